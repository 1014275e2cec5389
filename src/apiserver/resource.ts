// A resource definition is everything the generic machinery needs to serve one kind. Built-in kinds
// and CRD-defined kinds are both expressed as ResourceDefinitions; per-kind behaviour lives here as
// data (and small strategy hooks), never as a branch on the kind in the generic code.

import type { FieldError } from './errors.ts';
import type { NameRule } from './validation.ts';
import type { SecurityServices, UserInfo } from './auth/types.ts';

/** A JSON object as stored and served. */
export type KObject = Record<string, any>;

/** An OpenAPI v3 schema node in Kubernetes' structural dialect (JSONSchemaProps). */
export type JSONSchema = Record<string, any>;

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description?: string;
  priority?: number;
  /** CRD additionalPrinterColumns: a JSONPath evaluated against the object. */
  jsonPath?: string;
  /** Built-in printers: computes the cell from the object. */
  cell?: (obj: KObject) => unknown;
}

export interface ScaleSubresource {
  specReplicasPath: string; // e.g. ".spec.replicas"
  statusReplicasPath: string; // e.g. ".status.replicas"
  labelSelectorPath?: string;
  /** Built-in kinds: the Scale's status.selector computed from the object (a metav1.LabelSelector as a string). */
  selector?: (obj: KObject) => string | undefined;
}

/**
 * A read-only subresource whose body is computed from the object by whoever registered it
 * (Registry.extendSubresource), e.g. the device config a controller rendered for an EdgeNode.
 */
export interface CustomSubresource {
  /** Response kind announced in discovery (group/version default to the resource's own). */
  kind: string;
  group?: string;
  version?: string;
  /** The body for GET <resource>/<name>/<subresource>; a thrown StatusError is the answer. */
  get(obj: KObject): unknown | Promise<unknown>;
  /**
   * Serves the request itself, any method (streams, text, upgrades: pods/log, pods/exec), instead of
   * `get`. A StatusError thrown before anything was written is the answer.
   */
  serve?(obj: KObject, query: URLSearchParams, req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void>;
}

/** Who is asking, for hooks whose answer depends on it. In-process callers (controllers) leave both unset. */
export interface RequestContext {
  /** The authenticated (possibly impersonated) user of the request. */
  user?: UserInfo;
  /** The server's authentication/authorization services. */
  security?: SecurityServices;
  /** Other stored objects, for action subresources (set by the HTTP front for them). */
  objects?: ObjectAccess;
  /** The request's ?dryRun=All, for action subresources that write through `objects`. */
  dryRun?: boolean;
}

/**
 * In-process reads and writes of other stored objects, for subresources whose answer spans kinds
 * (pods/eviction consults PodDisruptionBudgets and deletes the pod). Kinds are named by group/version/resource.
 */
export interface ObjectAccess {
  list(group: string, version: string, resource: string, namespace: string | undefined): Promise<KObject[]>;
  /** Rewrites an object through a subresource's rules (retrying on conflicts); `mutate` may throw a StatusError to refuse. */
  update(
    group: string,
    version: string,
    resource: string,
    namespace: string | undefined,
    name: string,
    mutate: (obj: KObject) => KObject,
    opts: { subresource: 'status' | 'binding'; dryRun?: boolean },
  ): Promise<KObject>;
  /** update() through the status subresource. */
  updateStatus(
    group: string,
    version: string,
    resource: string,
    namespace: string | undefined,
    name: string,
    mutate: (obj: KObject) => KObject,
  ): Promise<KObject>;
  delete(
    group: string,
    version: string,
    resource: string,
    namespace: string | undefined,
    name: string,
    opts: {
      gracePeriodSeconds?: number;
      preconditions?: { uid?: string; resourceVersion?: string };
      dryRun?: boolean;
      propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
    },
  ): Promise<void>;
}

/** A create-only subresource answered from its parent object (serviceaccounts/token → TokenRequest). */
export interface ActionSubresource {
  kind: string;
  group: string;
  version: string;
  /** Computes the reply (201) to a POST of `body`; a thrown StatusError is the answer. */
  create(parent: KObject, body: KObject, ctx: RequestContext): Promise<KObject>;
}

/**
 * Where a read-only, computed kind's objects come from (metrics.k8s.io NodeMetrics/PodMetrics): get and
 * list are answered from it and nothing is stored. Label and field selectors are applied by the server.
 */
export interface ReadOnlySource {
  /** The object, or undefined for a 404. */
  get(namespace: string | undefined, name: string): KObject | undefined | Promise<KObject | undefined>;
  /** Every object in `namespace` (all namespaces when undefined). */
  list(namespace: string | undefined): KObject[] | Promise<KObject[]>;
}

/** Per-kind hooks, modelled on the apiserver's RESTCreateStrategy / RESTUpdateStrategy. */
export interface Strategy {
  /**
   * Virtual, create-only kinds (access reviews, TokenReview): computes the reply to a create from the
   * decoded body; nothing is stored.
   */
  createHandler?(obj: KObject, ctx: RequestContext): Promise<KObject>;
  /**
   * Admission that depends on the requesting user (RBAC escalation prevention); throws a StatusError.
   * Runs after validation on create (`old` unset) and update of the main resource, only for requests.
   */
  admit?(obj: KObject, old: KObject | undefined, ctx: RequestContext): void;
  /**
   * Admission that reads other objects (Priority admission resolves a pod's priority class, at most one
   * PriorityClass is the global default): may fill fields, throws a StatusError to refuse. Runs after
   * prepareForCreate/prepareForUpdate and before validation, for every write of the main resource.
   */
  admitWithObjects?(obj: KObject, old: KObject | undefined, objects: ObjectAccess): Promise<void>;
  /**
   * Writes of the kind run one at a time in this process, from admission to the storage write, because
   * admission allocates values that must be unique across objects of the kind (Service cluster IPs, node ports).
   */
  serializeWrites?: boolean;
  /** Fill server-owned fields on create (after metadata is set, before validation). */
  prepareForCreate?(obj: KObject): void;
  /** Fill/restore server-owned fields on update of the main resource. */
  prepareForUpdate?(obj: KObject, old: KObject): void;
  /** Kind-specific validation beyond the schema. `old` is set on update. */
  validate?(obj: KObject, old?: KObject): FieldError[];
  /** Validation of a write through the status subresource (counts a controller reports, ...). */
  validateStatus?(obj: KObject, old: KObject): FieldError[];
  /** Whether a change from old to obj bumps metadata.generation (default: any change outside metadata and status). */
  generationChanged?(obj: KObject, old: KObject): boolean;
  /**
   * Graceful deletion (Pods): the grace period in seconds to wait before removal, or undefined to
   * delete at once. Called with the requested gracePeriodSeconds from DeleteOptions.
   */
  gracefulDeleteSeconds?(obj: KObject, requested: number | undefined): number | undefined;
  /** Finalization that lives outside metadata.finalizers and keeps the object (Namespace spec.finalizers). */
  pendingFinalization?(obj: KObject): boolean;
  /** Refuses a delete by throwing a StatusError (Namespace: the system namespaces cannot be deleted). */
  checkDelete?(obj: KObject): void;
  /** Called once when deletionTimestamp is first set (Namespace: status.phase Terminating). */
  prepareForDeleting?(obj: KObject): void;
}

export interface ResourceDefinition {
  group: string; // "" for core
  version: string;
  resource: string; // plural, e.g. "configmaps"
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** How metadata.name is validated (default DNS-1123 subdomain; RBAC kinds allow any path segment, e.g. "system:view"). */
  nameRule?: NameRule;
  verbs: string[];
  /** Structural schema of the whole object; drives validation, pruning, defaulting, OpenAPI, explain and SMP. */
  schema?: JSONSchema;
  /**
   * How unknown fields are detected: 'prune' = the schema is authoritative (CRDs; unknown fields are dropped
   * and reported per fieldValidation). 'none' = no unknown-field detection.
   */
  unknownFields: 'prune' | 'none';
  /** Strategic merge patch is accepted (built-ins only; CRDs answer 415 like the real server). */
  strategicMergePatch: boolean;
  /** Whether metadata.generation is maintained. */
  generation: boolean;
  subresources: {
    status?: boolean;
    scale?: ScaleSubresource;
    /** pods/binding: POST a Binding to set spec.nodeName (the scheduler's write). */
    /** namespaces/finalize: PUT to change spec.finalizers (the namespace controller's write). */
    finalize?: boolean;
    /** Read-only views computed by a controller (e.g. edgenodes/<name>/config), by subresource name. */
    custom?: Record<string, CustomSubresource>;
    /** POST-only subresources computed from the object, by name (serviceaccounts/token). */
    actions?: Record<string, ActionSubresource>;
  };
  /** Table columns after NAME; an empty list means the default AGE column for CRDs / "Created At" for others. */
  columns: TableColumn[];
  /** Extra field selectors beyond metadata.name/metadata.namespace: label -> value extractor. */
  fieldSelectors?: Record<string, (obj: KObject) => string | undefined>;
  /** DELETE replies with the object (CRs) instead of a Success Status (most built-ins). */
  deleteReturnsObject: boolean;
  strategy?: Strategy;
  /**
   * Objects expire this long after their last write and are deleted (kube-apiserver's --event-ttl for
   * Events); unset = kept until deleted. Enforced by ObjectExpiry (expiry.ts).
   */
  ttlMs?: number;
  /** Computed, never stored (its verbs should be get/list): reads are answered by this source. */
  source?: ReadOnlySource;
  /** Set for resources defined by a CRD: the CRD's name. */
  crdName?: string;
  /** Served for reads/writes but hidden from discovery (never used yet; reserved). */
  hidden?: boolean;
}

export function groupVersion(def: Pick<ResourceDefinition, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
