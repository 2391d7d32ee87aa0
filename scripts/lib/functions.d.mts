// Types of functions.mjs (plain JavaScript, so that scripts/build.mjs runs with node alone).

/** One function of the product. */
export interface FunctionSpec {
  /** Its name: the directory under functions/, the name it registers, its bundle (or bundle prefix). */
  name: string;
  /** One bundle and Service per exchange (extract-<id>), generated from knative/exchanges.txt. */
  perExchange?: boolean;
  /** Its manifest, relative to knative/base (a directory for a per-exchange function). */
  manifest: string;
  /** Files copied beside the bundle (paths relative to the project, then to the bundle's directory). */
  copy?: ReadonlyArray<{ from: string; to: string }>;
  /**
   * A V8 startup snapshot of the bundle: `module` (relative to the project) exports `start(env)`, run when the pod
   * starts, and `prepare()`, run when the snapshot is built.
   */
  snapshot?: { module: string; start: string; prepare: string };
}

/** Every function, in the order of the chain. */
export declare const FUNCTIONS: readonly FunctionSpec[];

/** The function named `name`, or undefined. */
export declare function functionNamed(name: string): FunctionSpec | undefined;

/** The absolute path of a function's entry module. */
export declare function entryOf(fn: FunctionSpec): string;

/** The command a container of `bundle` runs (node on the snapshot when the function has one). */
export declare function commandOf(fn: FunctionSpec, bundle: string): string[];

/** The bundles (and Knative Services) of a function. */
export declare function bundlesOf(fn: FunctionSpec, exchangeIds: readonly string[]): string[];

/** Every bundle (and Knative Service) name of the product for these exchanges. */
export declare function bundleNames(exchangeIds: readonly string[]): string[];
