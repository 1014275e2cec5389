// core/v1 Service: schema, kube's defaults, the cluster IP and node port allocation (unique among stored
// Services), validation of the main errors with kube's texts, and kubectl's printer columns.

import type { KObject, ObjectAccess, ResourceDefinition, Strategy } from '../../apiserver/resource.ts';
import type { FieldError } from '../../apiserver/errors.ts';
import { StatusError, invalid as invalidObject } from '../../apiserver/errors.ts';
import { AGE_COLUMN, STANDARD_VERBS, isObject } from './common.ts';
import { bool, desc, int32, intOrString, kindSchema, list, obj, str, strMap } from './dsl.ts';
import { dns1123Label, duplicate, forbidden, immutable, invalid, notSupported, required } from './validation.ts';

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const HEADLESS = 'None';
/** kube-apiserver's default --service-cluster-ip-range and --service-node-port-range. */
const CLUSTER_IP_BASE = (10 << 24) | (96 << 16); // 10.96.0.0
const CLUSTER_IP_SIZE = 1 << 20; // /12
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

const PortStatus = obj(
  'An error of one port of a load balancer ingress point.',
  {
    port: int32('Port number.'),
    protocol: str('TCP, UDP or SCTP.'),
    error: str('CamelCase error reason, empty when the port is fine.'),
  },
  { required: ['port', 'protocol'] },
);

const LoadBalancerStatus = obj('The state of a load balancer.', {
  ingress: list(
    obj('An ingress point of the load balancer.', {
      ip: str('IP address of the ingress point.'),
      hostname: str('DNS name of the ingress point.'),
      ipMode: str('VIP or Proxy: how traffic reaches the ingress IP.'),
      ports: list(PortStatus, 'Per-port status.', { type: 'atomic' }),
    }),
    'Ingress points of the load balancer.',
    { type: 'atomic' },
  ),
});

const ServicePort = obj(
  'A port the service exposes.',
  {
    name: str('Name of the port, a DNS label; required (and unique) when the service has more than one port.'),
    protocol: str('TCP (the default), UDP or SCTP.'),
    appProtocol: str('Application protocol of the port (a hint for implementations).'),
    port: int32('Port the service exposes (1-65535).'),
    targetPort: intOrString('Port number or named container port to reach on the pods; defaults to port.'),
    nodePort: int32('Port on every node for NodePort and LoadBalancer services; allocated from 30000-32767 when unset.'),
  },
  { required: ['port'] },
);

const ServiceSpec = obj('Desired behaviour of the service.', {
  ports: list(ServicePort, 'Ports the service exposes.', { map: ['port', 'protocol'], mergeKey: 'port', strategy: 'merge' }),
  selector: { ...strMap('Pods with these labels back the service.'), 'x-kubernetes-map-type': 'atomic' },
  clusterIP: str('Virtual IP of the service, allocated when unset; "None" makes a headless service. Immutable.'),
  clusterIPs: list(str(), 'Cluster IPs, one per IP family; the first equals clusterIP.', { type: 'atomic' }),
  type: str('ClusterIP (the default), NodePort, LoadBalancer or ExternalName.'),
  externalIPs: list(str(), 'Extra IPs for which nodes accept traffic for the service.', { type: 'atomic' }),
  sessionAffinity: str('None (the default) or ClientIP.'),
  sessionAffinityConfig: obj('Settings of ClientIP session affinity.', {
    clientIP: obj('ClientIP affinity settings.', { timeoutSeconds: int32('Seconds of affinity (default 10800).') }),
  }),
  loadBalancerIP: str('Deprecated: requested load balancer IP.'),
  loadBalancerSourceRanges: list(str(), 'CIDRs allowed to reach a load balancer.', { type: 'atomic' }),
  externalName: str('DNS name the service aliases (type ExternalName).'),
  externalTrafficPolicy: str('Cluster or Local: how external traffic is routed (NodePort and LoadBalancer).'),
  healthCheckNodePort: int32('Node port of the health check for externalTrafficPolicy Local.'),
  publishNotReadyAddresses: bool('Publish addresses of pods that are not ready.'),
  ipFamilies: list(str(), 'IPv4 and/or IPv6.', { type: 'atomic' }),
  ipFamilyPolicy: str('SingleStack (the default), PreferDualStack or RequireDualStack.'),
  allocateLoadBalancerNodePorts: bool('Whether node ports are allocated for a LoadBalancer service (default true).'),
  loadBalancerClass: str('Load balancer implementation for the service. Immutable once set.'),
  internalTrafficPolicy: str('Cluster (the default) or Local: how traffic from inside the cluster is routed.'),
  trafficDistribution: str('Preference for routing traffic to nearby endpoints.'),
});

const ServiceStatus = obj('Observed state of the service.', {
  loadBalancer: desc(LoadBalancerStatus, 'The load balancer, when the service has one.'),
  conditions: list(
    obj(
      'A condition of the service.',
      {
        type: str('Condition type.'),
        status: str('True, False or Unknown.'),
        observedGeneration: { type: 'integer', format: 'int64' },
        lastTransitionTime: { type: 'string', format: 'date-time', nullable: true },
        reason: str('Reason.'),
        message: str('Message.'),
      },
      { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
    ),
    'Conditions.',
    { map: ['type'], mergeKey: 'type', strategy: 'merge' },
  ),
});

const usesNodePorts = (spec: KObject) => spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);

/** SetDefaults_Service and the ServicePort defaults. */
function applyDefaults(svc: KObject): void {
  const spec: KObject = isObject(svc.spec) ? svc.spec : (svc.spec = {});
  spec.type ??= 'ClusterIP';
  if (spec.type !== 'ExternalName') {
    spec.sessionAffinity ??= 'None';
    spec.internalTrafficPolicy ??= 'Cluster';
  }
  if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (spec.sessionAffinity === 'ClientIP') spec.sessionAffinityConfig ??= { clientIP: { timeoutSeconds: 10800 } };
  for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!isObject(p)) continue;
    p.protocol ??= 'TCP';
    if ((p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') && p.port !== undefined) p.targetPort = p.port;
  }
}

/** Keeps what the server allocated when an update leaves it out (kube's patchAllocatedValues). */
function keepAllocated(svc: KObject, old: KObject): void {
  const spec = svc.spec ?? {};
  const was = old.spec ?? {};
  if (!spec.clusterIP && was.clusterIP && spec.type !== 'ExternalName') {
    spec.clusterIP = was.clusterIP;
    spec.clusterIPs ??= was.clusterIPs;
    spec.ipFamilies ??= was.ipFamilies;
    spec.ipFamilyPolicy ??= was.ipFamilyPolicy;
  }
  if (usesNodePorts(spec) && usesNodePorts(was)) {
    for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isObject(p) || p.nodePort) continue;
      const prev = (was.ports ?? []).find((q: KObject) => q?.port === p.port && (q?.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (prev?.nodePort) p.nodePort = prev.nodePort;
    }
  }
  if (!usesNodePorts(spec) && usesNodePorts(was)) {
    // A type change away from node ports releases the ones the service held (kube's dropTypeDependentFields);
    // a node port the request itself asks for is left for validation to refuse.
    const held = new Set((was.ports ?? []).map((p: KObject) => p?.nodePort).filter((n: unknown) => typeof n === 'number'));
    for (const p of Array.isArray(spec.ports) ? spec.ports : []) if (isObject(p) && held.has(p.nodePort)) delete p.nodePort;
  }
  if (old.status !== undefined) svc.status = old.status;
  else delete svc.status;
}

const ipToInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
const isIPv4 = (s: unknown): s is string => typeof s === 'string' && /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s);
const inRange = (ip: string) => {
  const n = ipToInt(ip);
  return n >= CLUSTER_IP_BASE && n < CLUSTER_IP_BASE + CLUSTER_IP_SIZE;
};

/** Allocates the cluster IP and node ports the request left unset; refuses ones another Service holds. */
async function allocate(svc: KObject, old: KObject | undefined, objects: ObjectAccess): Promise<void> {
  const spec: KObject = svc.spec ?? {};
  const others = (await objects.list('', 'v1', 'services', undefined)).filter((o) => o.metadata?.uid !== svc.metadata?.uid);
  const conflict = (field: string, value: unknown, detail: string) => invalidObject('Service', '', svc.metadata?.name ?? '', [invalid(field, value, detail)]);

  if (spec.type === 'ExternalName') {
    // An ExternalName service is only a DNS alias: it holds no cluster IP (a type change releases it).
    for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) delete spec[f];
  } else if (!old || !old.spec?.clusterIP) {
    const taken = new Set(others.map((o) => o.spec?.clusterIP).filter(isIPv4));
    if (!spec.clusterIP) {
      const start = 1 + Math.floor(Math.random() * (CLUSTER_IP_SIZE - 3));
      let ip: string | undefined;
      for (let i = 0; i < CLUSTER_IP_SIZE - 2 && !ip; i++) {
        const candidate = intToIp(CLUSTER_IP_BASE + 1 + ((start - 1 + i) % (CLUSTER_IP_SIZE - 2)));
        if (!taken.has(candidate)) ip = candidate;
      }
      if (!ip) throw new StatusError(500, 'InternalError', 'Internal error occurred: failed to allocate a serviceIP: range is full');
      spec.clusterIP = ip;
    } else if (spec.clusterIP !== HEADLESS && isIPv4(spec.clusterIP)) {
      if (!inRange(spec.clusterIP))
        throw conflict(
          'spec.clusterIPs',
          spec.clusterIP,
          'failed to allocate IP ' +
            spec.clusterIP +
            ': the provided IP (' +
            spec.clusterIP +
            ') is not in the valid range. The range of valid IPs is 10.96.0.0/12',
        );
      if (taken.has(spec.clusterIP))
        throw conflict('spec.clusterIPs', spec.clusterIP, `failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`);
    }
    if (isIPv4(spec.clusterIP) || spec.clusterIP === HEADLESS) {
      spec.clusterIPs ??= [spec.clusterIP];
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
    }
  }

  if (!usesNodePorts(spec)) {
    return;
  }
  const takenPorts = new Set<number>();
  for (const o of others) for (const p of o.spec?.ports ?? []) if (typeof p?.nodePort === 'number') takenPorts.add(p.nodePort);
  const ownOld = new Set<number>((old?.spec?.ports ?? []).map((p: KObject) => p?.nodePort).filter((n: unknown) => typeof n === 'number'));
  const ports: KObject[] = Array.isArray(spec.ports) ? spec.ports : [];
  const mine = new Set<number>();
  ports.forEach((p, i) => {
    if (!isObject(p) || typeof p.nodePort !== 'number' || p.nodePort === 0) return;
    if (!ownOld.has(p.nodePort)) {
      if (p.nodePort < NODE_PORT_MIN || p.nodePort > NODE_PORT_MAX) {
        throw conflict(
          `spec.ports[${i}].nodePort`,
          p.nodePort,
          `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`,
        );
      }
      if (takenPorts.has(p.nodePort)) throw conflict(`spec.ports[${i}].nodePort`, p.nodePort, 'provided port is already allocated');
    }
    mine.add(p.nodePort);
  });
  const span = NODE_PORT_MAX - NODE_PORT_MIN + 1;
  for (const p of ports) {
    if (!isObject(p) || (typeof p.nodePort === 'number' && p.nodePort !== 0)) continue;
    const start = Math.floor(Math.random() * span);
    let port: number | undefined;
    for (let i = 0; i < span && port === undefined; i++) {
      const candidate = NODE_PORT_MIN + ((start + i) % span);
      if (!takenPorts.has(candidate) && !mine.has(candidate)) port = candidate;
    }
    if (port === undefined) throw new StatusError(500, 'InternalError', 'Internal error occurred: failed to allocate a nodePort: range is full');
    p.nodePort = port;
    mine.add(port);
  }
}

/** ValidateService: the main field errors with kube's texts. */
function validateService(svc: KObject, old?: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec: KObject = svc.spec ?? {};
  if (!TYPES.includes(spec.type)) errs.push(notSupported('spec.type', spec.type, TYPES));
  const ports: unknown[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (spec.type !== 'ExternalName' && spec.clusterIP !== HEADLESS && ports.length === 0) errs.push(required('spec.ports'));
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) errs.push(required('spec.externalName'));
    else for (const m of dns1123Subdomainish(spec.externalName)) errs.push(invalid('spec.externalName', spec.externalName, m));
  }
  const names = new Set<string>();
  ports.forEach((raw, i) => {
    const p = (isObject(raw) ? raw : {}) as KObject;
    const path = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push(required(`${path}.name`));
    if (p.name) {
      for (const m of dns1123Label(p.name)) errs.push(invalid(`${path}.name`, p.name, m));
      if (names.has(p.name)) errs.push(duplicate(`${path}.name`, p.name));
      names.add(p.name);
    }
    if (p.port === undefined || p.port === 0) errs.push(required(`${path}.port`));
    else if (!(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535))
      errs.push(invalid(`${path}.port`, p.port, 'must be between 1 and 65535, inclusive'));
    if (!PROTOCOLS.includes(p.protocol)) errs.push(notSupported(`${path}.protocol`, p.protocol, PROTOCOLS));
    if (typeof p.targetPort === 'number' && !(p.targetPort >= 1 && p.targetPort <= 65535)) {
      errs.push(invalid(`${path}.targetPort`, p.targetPort, 'must be between 1 and 65535, inclusive'));
    }
    if (p.nodePort !== undefined && !usesNodePorts(spec)) {
      errs.push(forbidden(`${path}.nodePort`, `may not be used when \`type\` is '${spec.type}'`));
    }
  });
  if (spec.clusterIP && spec.clusterIP !== HEADLESS && !isIPv4(spec.clusterIP) && spec.type !== 'ExternalName') {
    errs.push(invalid('spec.clusterIPs[0]', spec.clusterIP, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  }
  for (const [field, allowed] of [
    ['sessionAffinity', ['None', 'ClientIP']],
    ['internalTrafficPolicy', ['Cluster', 'Local']],
    ['externalTrafficPolicy', ['Cluster', 'Local']],
  ] as const) {
    if (spec[field] !== undefined && !(allowed as readonly string[]).includes(spec[field])) errs.push(notSupported(`spec.${field}`, spec[field], [...allowed]));
  }
  if (old) {
    const was = old.spec ?? {};
    // ExternalName services carry no cluster IP, so changing to or from them is the one way to change it.
    if (was.type !== 'ExternalName' && spec.type !== 'ExternalName' && was.clusterIP && (spec.clusterIP ?? '') !== was.clusterIP) {
      errs.push(immutable('spec.clusterIPs[0]', spec.clusterIP ?? ''));
    }
    if (was.loadBalancerClass && spec.type === 'LoadBalancer' && was.type === 'LoadBalancer' && spec.loadBalancerClass !== was.loadBalancerClass) {
      errs.push(immutable('spec.loadBalancerClass', spec.loadBalancerClass ?? ''));
    }
  }
  return errs;
}

/** externalName must be a lower-case RFC-1123 hostname (a trailing dot is allowed). */
function dns1123Subdomainish(v: string): string[] {
  const name = v.endsWith('.') ? v.slice(0, -1) : v;
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) && name.length <= 253
    ? []
    : [
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ];
}

/** PORT(S): port[:nodePort]/protocol, comma-separated; <none> without ports. */
function portsCell(svc: KObject): string {
  const ports: KObject[] = Array.isArray(svc.spec?.ports) ? svc.spec.ports : [];
  if (!ports.length) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

/** EXTERNAL-IP as kubectl prints it: load balancer ingress and external IPs, <pending> while a load balancer has none. */
function externalIPCell(svc: KObject): string {
  const spec = svc.spec ?? {};
  const external: string[] = Array.isArray(spec.externalIPs) ? spec.externalIPs : [];
  const ingress: string[] = (svc.status?.loadBalancer?.ingress ?? []).map((i: KObject) => i?.ip || i?.hostname).filter(Boolean);
  switch (spec.type) {
    case 'ExternalName':
      return spec.externalName ?? '<none>';
    case 'LoadBalancer':
      return [...ingress, ...external].join(',') || '<pending>';
    default:
      return external.join(',') || '<none>';
  }
}

const selectorCell = (svc: KObject) => {
  const sel = svc.spec?.selector;
  return isObject(sel) && Object.keys(sel).length
    ? Object.keys(sel)
        .sort()
        .map((k) => `${k}=${sel[k]}`)
        .join(',')
    : '<none>';
};

const serviceStrategy: Strategy = {
  prepareForCreate(svc) {
    applyDefaults(svc);
    svc.status = { loadBalancer: {} };
  },
  prepareForUpdate(svc, old) {
    applyDefaults(svc);
    keepAllocated(svc, old);
  },
  async admitWithObjects(svc, old, objects) {
    await allocate(svc, old, objects);
  },
  // Allocation reads the taken IPs and ports, then the write stores the pick: one Service write at a time.
  serializeWrites: true,
  validate: validateService,
};

export const services: ResourceDefinition = {
  group: '',
  version: 'v1',
  resource: 'services',
  singular: 'service',
  kind: 'Service',
  listKind: 'ServiceList',
  namespaced: true,
  shortNames: ['svc'],
  categories: ['all'],
  verbs: STANDARD_VERBS,
  schema: kindSchema(
    'A named abstraction of software service: a local port (for example 3306) that the proxy listens on, and the selector that picks the pods answering on it.',
    {
      spec: desc(ServiceSpec, 'Desired behaviour of the service.'),
      status: desc(ServiceStatus, 'Most recently observed status of the service.'),
    },
  ),
  unknownFields: 'prune',
  strategicMergePatch: true,
  generation: false,
  subresources: { status: true },
  columns: [
    { name: 'Type', type: 'string', description: 'The type of the service.', cell: (o) => o.spec?.type ?? '' },
    { name: 'Cluster-IP', type: 'string', description: 'The cluster IP of the service.', cell: (o) => o.spec?.clusterIP || '<none>' },
    { name: 'External-IP', type: 'string', description: 'The external IPs of the service.', cell: externalIPCell },
    { name: 'Port(s)', type: 'string', description: 'The ports the service exposes.', cell: portsCell },
    AGE_COLUMN,
    { name: 'Selector', type: 'string', priority: 1, description: 'The label selector of the service.', cell: selectorCell },
  ],
  // The service registry answers DELETE with the deleted object (ReturnDeletedObject).
  deleteReturnsObject: true,
  strategy: serviceStrategy,
};
