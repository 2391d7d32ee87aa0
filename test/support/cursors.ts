// An in-memory cursor store for tests that exercise incremental runs without S3.
import { cursorKey, type Cursor, type CursorStore, type SeriesKey } from '../../shared/lake/cursors.ts';

/** Cursors kept in a Map, keyed like the S3 store. */
export class MemoryCursorStore implements CursorStore {
  readonly cursors = new Map<string, Cursor>();
  async get(key: SeriesKey): Promise<Cursor | undefined> {
    return this.cursors.get(cursorKey(key));
  }
  async put(key: SeriesKey, cursor: Cursor): Promise<void> {
    this.cursors.set(cursorKey(key), cursor);
  }
}
