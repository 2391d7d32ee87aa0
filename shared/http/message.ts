// The request and response a function handler gets: Node's own, with the Express-like members handlers use.
import { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The classes of requests and responses, made when first asked for: a class that extends node:http's cannot be
 * defined while a startup snapshot is built (node:http cannot be in a snapshot), only when the server is made.
 */
function defineClasses() {
  /**
   * An incoming request whose body the server already read within the function's limit: `rawBody` holds its bytes,
   * `body` the parsed value (JSON for application/json and application/cloudevents+json, a string for text/*, the
   * bytes for other types, form bodies included; undefined without a content type), as the Functions Framework's body
   * parsers leave them except for forms, which no function reads.
   */
  class FunctionRequest extends IncomingMessage {
    /** The parsed body (see the class comment). */
    body: unknown = undefined;
    /** The body's bytes, once read. */
    rawBody?: Buffer;
    /** `rawBody` decoded as UTF-8, when the server decoded it (JSON and text bodies): decoded once per request. */
    rawText?: string;
    /**
     * Set while the server has read the body but left it unparsed (a function registered with `deferParse`): parses it
     * into `body` and `rawText` as the server would have (a 400 for invalid JSON), once.
     */
    parseBody?: () => void;
    /** The path and query as the client sent them (Express's name for the unrouted URL). */
    originalUrl = '';

    /** A request header by case-insensitive name; the first value when sent more than once. */
    header(name: string): string | undefined {
      const v = this.headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    }
  }

  /**
   * A response with Express's chaining helpers: status(), set(), send(), json(). Generic like Node's ServerResponse, so
   * that a server made with it is still an http.Server.
   */
  class FunctionResponse<Request extends IncomingMessage = FunctionRequest> extends ServerResponse<Request> {
    /** Sets the status code. */
    status(code: number): this {
      this.statusCode = code;
      return this;
    }

    /** Sets one header, or several from an object. */
    set(field: string | Record<string, string | string[]>, value?: string | string[]): this {
      if (typeof field === 'string') {
        if (value !== undefined) this.setHeader(field, value);
      } else for (const [k, v] of Object.entries(field)) this.setHeader(k, v);
      return this;
    }

    /**
     * Ends the response with `body`: a string (text/html unless a content type is set), bytes
     * (application/octet-stream unless set), any other value as JSON, or nothing.
     */
    send(body?: unknown): this {
      if (body === undefined || body === null) {
        this.end();
        return this;
      }
      if (typeof body !== 'string' && !Buffer.isBuffer(body)) return this.json(body);
      if (!this.hasHeader('content-type'))
        this.setHeader(
          'content-type',
          typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/octet-stream',
        );
      this.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.length);
      this.end(body);
      return this;
    }

    /** Ends the response with `body` as JSON. */
    json(body: unknown): this {
      if (!this.hasHeader('content-type')) this.setHeader('content-type', 'application/json; charset=utf-8');
      return this.send(JSON.stringify(body));
    }
  }

  return { FunctionRequest, FunctionResponse };
}

type MessageClasses = ReturnType<typeof defineClasses>;
let classes: MessageClasses | undefined;

/** The request and response classes a function server makes (defined on the first call). */
export function messageClasses(): MessageClasses {
  classes ??= defineClasses();
  return classes;
}

/** A request a function handler gets (see defineClasses). */
export type FunctionRequest = InstanceType<MessageClasses['FunctionRequest']>;
/** A response a function handler writes (see defineClasses). */
export type FunctionResponse = InstanceType<MessageClasses['FunctionResponse']>;

/**
 * A function handler: the Functions Framework's `http` signature `(req, res)`, on the requests this project's server
 * makes. Handlers are also valid framework HttpFunctions (registerFunction registers them with the framework too).
 */
export type HttpFunction = (req: FunctionRequest, res: FunctionResponse) => unknown;
