// The public API host of an exchange from ccxt's URL table: what the local run checks it can reach before starting.
import * as ccxt from 'ccxt';

type WithUrls = new () => { urls: { api?: unknown }; hostname?: unknown };

/**
 * The first https host of the exchange's API URLs in ccxt (e.g. `api.binance.com`, `api.bybit.com`); undefined for an
 * id ccxt does not know.
 */
export function apiHost(id: string): string | undefined {
  const cls = (ccxt.exchanges as unknown as Record<string, WithUrls | undefined>)[id];
  if (typeof cls !== 'function') return undefined;
  const ex = new cls();
  // Some exchanges write their URLs as templates: https://api.{hostname}
  const hostname = typeof ex.hostname === 'string' ? ex.hostname : '';
  const api = JSON.stringify(ex.urls.api ?? {}).replaceAll('{hostname}', hostname);
  return /https:\/\/([a-z0-9.-]+\.[a-z]{2,})/i.exec(api)?.[1];
}
