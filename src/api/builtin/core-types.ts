// Structural schemas of the core/v1 types used by Pod and Node (and the references shared with other core
// kinds). Field names, types, list/map semantics and strategic-merge keys follow k8s.io/api core/v1 at v1.32;
// the descriptions are our own short summaries for kubectl explain.

import {
  atomicMap,
  bool,
  bytes,
  desc,
  int32,
  int64,
  intOrString,
  labelSelector,
  list,
  obj,
  objectMeta,
  quantity,
  resourceList,
  str,
  strMap,
  time,
} from './dsl.ts';

const HostPathVolumeSource = obj(
  'A path on the node.',
  {
    path: str('Path on the node; a symlink is followed.'),
    type: str('What must exist at the path: "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice or BlockDevice.'),
  },
  { required: ['path'] },
);

const EmptyDirVolumeSource = obj('A temporary directory that starts empty.', {
  medium: str('Backing storage: "" for the node default, or Memory for a tmpfs.'),
  sizeLimit: quantity('Upper bound on the space the volume may use.'),
});

const GCEPersistentDiskVolumeSource = obj(
  'A GCE persistent disk.',
  {
    pdName: str(),
    fsType: str(),
    partition: int32(),
    readOnly: bool(),
  },
  { required: ['pdName'] },
);

const AWSElasticBlockStoreVolumeSource = obj(
  'An AWS EBS volume.',
  {
    volumeID: str(),
    fsType: str(),
    partition: int32(),
    readOnly: bool(),
  },
  { required: ['volumeID'] },
);

const GitRepoVolumeSource = obj(
  'A git repository cloned into an empty directory.',
  {
    repository: str(),
    revision: str(),
    directory: str(),
  },
  { required: ['repository'] },
);

const KeyToPath = obj(
  'Maps one key of a ConfigMap or Secret to a file.',
  {
    key: str('The key to project.'),
    path: str('Relative file path for the key; may not contain "..".'),
    mode: int32('File mode bits (0000-0777) for this file; defaults to the volume defaultMode.'),
  },
  { required: ['key', 'path'] },
);

const SecretVolumeSource = obj('Projects the keys of a Secret as files.', {
  secretName: str('Name of the Secret in the pod namespace.'),
  items: list(KeyToPath, 'Keys to project; when empty, every key becomes a file named after it.', { type: 'atomic' }),
  defaultMode: int32('Mode bits for created files, 0644 by default.'),
  optional: bool('Whether the Secret or its keys may be missing.'),
});

const NFSVolumeSource = obj(
  'An NFS export.',
  {
    server: str('Host name or IP of the NFS server.'),
    path: str('Exported path.'),
    readOnly: bool('Mount the export read-only.'),
  },
  { required: ['server', 'path'] },
);

const LocalObjectReferenceProps = {
  name: { ...str('Name of the referent.'), default: '' },
};

export const LocalObjectReference = obj(
  'Names an object in the same namespace.',
  {
    ...LocalObjectReferenceProps,
  },
  { atomic: true },
);

const ISCSIVolumeSource = obj(
  'An iSCSI disk.',
  {
    targetPortal: str(),
    iqn: str(),
    lun: int32(),
    iscsiInterface: { ...str(), default: 'default' },
    fsType: str(),
    readOnly: bool(),
    portals: list(str(), undefined, { type: 'atomic' }),
    chapAuthDiscovery: bool(),
    chapAuthSession: bool(),
    secretRef: LocalObjectReference,
    initiatorName: str(),
  },
  { required: ['targetPortal', 'iqn', 'lun'] },
);

const GlusterfsVolumeSource = obj(
  'A GlusterFS mount.',
  {
    endpoints: str(),
    path: str(),
    readOnly: bool(),
  },
  { required: ['endpoints', 'path'] },
);

const PersistentVolumeClaimVolumeSource = obj(
  'Uses a PersistentVolumeClaim of the pod namespace.',
  {
    claimName: str('Name of the claim.'),
    readOnly: bool('Force a read-only mount.'),
  },
  { required: ['claimName'] },
);

const RBDVolumeSource = obj(
  'A Ceph RBD image.',
  {
    monitors: list(str(), undefined, { type: 'atomic' }),
    image: str(),
    fsType: str(),
    pool: { ...str(), default: 'rbd' },
    user: { ...str(), default: 'admin' },
    keyring: { ...str(), default: '/etc/ceph/keyring' },
    secretRef: LocalObjectReference,
    readOnly: bool(),
  },
  { required: ['monitors', 'image'] },
);

const FlexVolumeSource = obj(
  'A volume handled by a FlexVolume driver.',
  {
    driver: str(),
    fsType: str(),
    secretRef: LocalObjectReference,
    readOnly: bool(),
    options: strMap(),
  },
  { required: ['driver'] },
);

const CinderVolumeSource = obj(
  'An OpenStack Cinder volume.',
  {
    volumeID: str(),
    fsType: str(),
    readOnly: bool(),
    secretRef: LocalObjectReference,
  },
  { required: ['volumeID'] },
);

const CephFSVolumeSource = obj(
  'A CephFS mount.',
  {
    monitors: list(str(), undefined, { type: 'atomic' }),
    path: str(),
    user: str(),
    secretFile: str(),
    secretRef: LocalObjectReference,
    readOnly: bool(),
  },
  { required: ['monitors'] },
);

const FlockerVolumeSource = obj('A Flocker dataset.', {
  datasetName: str(),
  datasetUUID: str(),
});

const ObjectFieldSelector = obj(
  'Selects a field of the pod.',
  {
    apiVersion: str('Version the fieldPath is written against; "v1" by default.'),
    fieldPath: str('Path of the field, e.g. metadata.name or status.podIP.'),
  },
  { required: ['fieldPath'], atomic: true },
);

const ResourceFieldSelector = obj(
  'Selects a resource request or limit of a container.',
  {
    containerName: str('Container to read; required for volumes.'),
    resource: str('Resource to expose, e.g. limits.cpu or requests.memory.'),
    divisor: quantity('Unit the value is divided by; 1 by default.'),
  },
  { required: ['resource'], atomic: true },
);

const DownwardAPIVolumeFile = obj(
  'One file of a downward API volume.',
  {
    path: str('Relative path of the file.'),
    fieldRef: desc(ObjectFieldSelector, 'Pod field written to the file.'),
    resourceFieldRef: desc(ResourceFieldSelector, 'Container resource written to the file.'),
    mode: int32('Mode bits for this file.'),
  },
  { required: ['path'] },
);

const DownwardAPIVolumeSource = obj('Files describing the pod.', {
  items: list(DownwardAPIVolumeFile, 'Files to create.', { type: 'atomic' }),
  defaultMode: int32('Mode bits for created files, 0644 by default.'),
});

const FCVolumeSource = obj('A Fibre Channel disk.', {
  targetWWNs: list(str(), undefined, { type: 'atomic' }),
  lun: int32(),
  fsType: str(),
  readOnly: bool(),
  wwids: list(str(), undefined, { type: 'atomic' }),
});

const AzureFileVolumeSource = obj(
  'An Azure File share.',
  {
    secretName: str(),
    shareName: str(),
    readOnly: bool(),
  },
  { required: ['secretName', 'shareName'] },
);

const ConfigMapVolumeSource = obj('Projects the keys of a ConfigMap as files.', {
  ...LocalObjectReferenceProps,
  items: list(KeyToPath, 'Keys to project; when empty, every key becomes a file named after it.', { type: 'atomic' }),
  defaultMode: int32('Mode bits for created files, 0644 by default.'),
  optional: bool('Whether the ConfigMap or its keys may be missing.'),
});

const VsphereVirtualDiskVolumeSource = obj(
  'A vSphere virtual disk.',
  {
    volumePath: str(),
    fsType: str(),
    storagePolicyName: str(),
    storagePolicyID: str(),
  },
  { required: ['volumePath'] },
);

const QuobyteVolumeSource = obj(
  'A Quobyte mount.',
  {
    registry: str(),
    volume: str(),
    readOnly: bool(),
    user: str(),
    group: str(),
    tenant: str(),
  },
  { required: ['registry', 'volume'] },
);

const AzureDiskVolumeSource = obj(
  'An Azure data disk.',
  {
    diskName: str(),
    diskURI: str(),
    cachingMode: str(),
    fsType: { ...str(), default: 'ext4' },
    readOnly: bool(),
    kind: str(),
  },
  { required: ['diskName', 'diskURI'] },
);

const PhotonPersistentDiskVolumeSource = obj(
  'A Photon Controller persistent disk.',
  {
    pdID: str(),
    fsType: str(),
  },
  { required: ['pdID'] },
);

const SecretProjection = obj('Secret keys projected into a projected volume.', {
  ...LocalObjectReferenceProps,
  items: list(KeyToPath, undefined, { type: 'atomic' }),
  optional: bool(),
});

const DownwardAPIProjection = obj('Pod information projected into a projected volume.', {
  items: list(DownwardAPIVolumeFile, undefined, { type: 'atomic' }),
});

const ConfigMapProjection = obj('ConfigMap keys projected into a projected volume.', {
  ...LocalObjectReferenceProps,
  items: list(KeyToPath, undefined, { type: 'atomic' }),
  optional: bool(),
});

const ServiceAccountTokenProjection = obj(
  'A service account token projected into a file.',
  {
    audience: str('Intended audience of the token; the API server by default.'),
    expirationSeconds: int64('Requested token lifetime; 1 hour by default, at least 10 minutes.'),
    path: str('Relative path of the token file.'),
  },
  { required: ['path'] },
);

const ClusterTrustBundleProjection = obj(
  'Certificates from ClusterTrustBundle objects written to a file.',
  {
    name: str(),
    signerName: str(),
    labelSelector: labelSelector(),
    optional: bool(),
    path: str(),
  },
  { required: ['path'] },
);

const VolumeProjection = obj('One source of a projected volume; set exactly one field.', {
  secret: SecretProjection,
  downwardAPI: DownwardAPIProjection,
  configMap: ConfigMapProjection,
  serviceAccountToken: ServiceAccountTokenProjection,
  clusterTrustBundle: ClusterTrustBundleProjection,
});

const ProjectedVolumeSource = obj('Several volume sources projected into one directory.', {
  sources: list(VolumeProjection, 'The sources to project.', { type: 'atomic' }),
  defaultMode: int32('Mode bits for created files.'),
});

const PortworxVolumeSource = obj(
  'A Portworx volume.',
  {
    volumeID: str(),
    fsType: str(),
    readOnly: bool(),
  },
  { required: ['volumeID'] },
);

const ScaleIOVolumeSource = obj(
  'A ScaleIO volume.',
  {
    gateway: str(),
    system: str(),
    secretRef: LocalObjectReference,
    sslEnabled: bool(),
    protectionDomain: str(),
    storagePool: str(),
    storageMode: { ...str(), default: 'ThinProvisioned' },
    volumeName: str(),
    fsType: { ...str(), default: 'xfs' },
    readOnly: bool(),
  },
  { required: ['gateway', 'system', 'secretRef'] },
);

const StorageOSVolumeSource = obj('A StorageOS volume.', {
  volumeName: str(),
  volumeNamespace: str(),
  fsType: str(),
  readOnly: bool(),
  secretRef: LocalObjectReference,
});

const CSIVolumeSource = obj(
  'An ephemeral volume provided by a CSI driver.',
  {
    driver: str('Name of the CSI driver.'),
    readOnly: bool('Mount read-only.'),
    fsType: str('Filesystem type to mount.'),
    volumeAttributes: strMap('Driver-specific properties.'),
    nodePublishSecretRef: desc(LocalObjectReference, 'Secret passed to the driver when publishing the volume.'),
  },
  { required: ['driver'] },
);

const VolumeResourceRequirements = obj('Storage requests and limits of a claim.', {
  limits: resourceList(),
  requests: resourceList(),
});

const TypedLocalObjectReference = obj(
  'A reference to an object of a given kind in the same namespace.',
  {
    apiGroup: str(),
    kind: str(),
    name: str(),
  },
  { required: ['kind', 'name'], atomic: true },
);

const TypedObjectReference = obj(
  'A reference to an object of a given kind, possibly in another namespace.',
  {
    apiGroup: str(),
    kind: str(),
    name: str(),
    namespace: str(),
  },
  { required: ['kind', 'name'] },
);

const PersistentVolumeClaimSpec = obj('Desired characteristics of a volume claim.', {
  accessModes: list(str(), undefined, { type: 'atomic' }),
  selector: labelSelector(),
  resources: VolumeResourceRequirements,
  volumeName: str(),
  storageClassName: str(),
  volumeMode: str(),
  dataSource: TypedLocalObjectReference,
  dataSourceRef: TypedObjectReference,
  volumeAttributesClassName: str(),
});

const PersistentVolumeClaimTemplate = obj(
  'Template of a PersistentVolumeClaim.',
  {
    metadata: objectMeta(),
    spec: PersistentVolumeClaimSpec,
  },
  { required: ['spec'] },
);

const EphemeralVolumeSource = obj('A volume whose PersistentVolumeClaim is created and deleted with the pod.', {
  volumeClaimTemplate: desc(PersistentVolumeClaimTemplate, 'Template for the claim created for this volume.'),
});

const ImageVolumeSource = obj('An OCI image or artifact mounted as a volume.', {
  reference: str('Image or artifact reference, as in a container image field.'),
  pullPolicy: str('Always, Never or IfNotPresent; defaults as for container images.'),
});

const VolumeSourceProps = {
  hostPath: desc(HostPathVolumeSource, 'A file or directory on the node, mapped into the pod. Mostly for system agents.'),
  emptyDir: desc(EmptyDirVolumeSource, 'A scratch directory that lives as long as the pod does.'),
  gcePersistentDisk: desc(GCEPersistentDiskVolumeSource, 'Deprecated: a GCE persistent disk.'),
  awsElasticBlockStore: desc(AWSElasticBlockStoreVolumeSource, 'Deprecated: an AWS EBS volume.'),
  gitRepo: desc(GitRepoVolumeSource, 'Deprecated: a directory cloned from a git repository.'),
  secret: desc(SecretVolumeSource, 'Files populated from a Secret.'),
  nfs: desc(NFSVolumeSource, 'An NFS export mounted into the pod.'),
  iscsi: desc(ISCSIVolumeSource, 'An iSCSI disk.'),
  glusterfs: desc(GlusterfsVolumeSource, 'Deprecated: a GlusterFS mount.'),
  persistentVolumeClaim: desc(PersistentVolumeClaimVolumeSource, 'A PersistentVolumeClaim in the same namespace.'),
  rbd: desc(RBDVolumeSource, 'Deprecated: a Ceph RBD image.'),
  flexVolume: desc(FlexVolumeSource, 'Deprecated: a volume handled by an exec-based FlexVolume plugin.'),
  cinder: desc(CinderVolumeSource, 'Deprecated: an OpenStack Cinder volume.'),
  cephfs: desc(CephFSVolumeSource, 'Deprecated: a CephFS mount.'),
  flocker: desc(FlockerVolumeSource, 'Deprecated: a Flocker dataset.'),
  downwardAPI: desc(DownwardAPIVolumeSource, 'Files holding information about the pod itself.'),
  fc: desc(FCVolumeSource, 'A Fibre Channel disk.'),
  azureFile: desc(AzureFileVolumeSource, 'Deprecated: an Azure File share.'),
  configMap: desc(ConfigMapVolumeSource, 'Files populated from a ConfigMap.'),
  vsphereVolume: desc(VsphereVirtualDiskVolumeSource, 'Deprecated: a vSphere virtual disk.'),
  quobyte: desc(QuobyteVolumeSource, 'Deprecated: a Quobyte mount.'),
  azureDisk: desc(AzureDiskVolumeSource, 'Deprecated: an Azure data disk.'),
  photonPersistentDisk: desc(PhotonPersistentDiskVolumeSource, 'Deprecated: a Photon Controller disk.'),
  projected: desc(ProjectedVolumeSource, 'Several sources (secrets, config maps, downward API, tokens) merged into one directory.'),
  portworxVolume: desc(PortworxVolumeSource, 'Deprecated: a Portworx volume.'),
  scaleIO: desc(ScaleIOVolumeSource, 'Deprecated: a ScaleIO volume.'),
  storageos: desc(StorageOSVolumeSource, 'Deprecated: a StorageOS volume.'),
  csi: desc(CSIVolumeSource, 'An inline volume provided by a CSI driver.'),
  ephemeral: desc(EphemeralVolumeSource, 'A volume provisioned by a storage driver for the lifetime of the pod.'),
  image: desc(ImageVolumeSource, 'The contents of an OCI image or artifact, mounted read-only.'),
};

const Volume = obj(
  'A named volume that containers of the pod can mount. Exactly one source must be set.',
  {
    name: str('Volume name; a DNS label unique within the pod, referenced by volumeMounts.'),
    ...VolumeSourceProps,
  },
  { required: ['name'] },
);

const ContainerPort = obj(
  'A network port of a container.',
  {
    name: str('IANA_SVC_NAME-style name, unique in the pod; services may refer to it.'),
    hostPort: int32('Port number exposed on the host; rarely needed.'),
    containerPort: int32('Port number on the pod IP, 1-65535.'),
    protocol: { ...str('UDP, TCP or SCTP; TCP by default.'), default: 'TCP' },
    hostIP: str('Host IP the host port binds to.'),
  },
  { required: ['containerPort'] },
);

const ConfigMapEnvSource = obj('A ConfigMap whose keys become environment variables.', {
  ...LocalObjectReferenceProps,
  optional: bool('Whether the ConfigMap may be missing.'),
});

const SecretEnvSource = obj('A Secret whose keys become environment variables.', {
  ...LocalObjectReferenceProps,
  optional: bool('Whether the Secret may be missing.'),
});

const EnvFromSource = obj('A source of a set of environment variables.', {
  prefix: str('Prefix added to every key.'),
  configMapRef: desc(ConfigMapEnvSource, 'ConfigMap to read.'),
  secretRef: desc(SecretEnvSource, 'Secret to read.'),
});

const ConfigMapKeySelector = obj(
  'Selects one key of a ConfigMap.',
  {
    ...LocalObjectReferenceProps,
    key: str('The key to read.'),
    optional: bool('Whether the ConfigMap or key may be missing.'),
  },
  { required: ['key'], atomic: true },
);

const SecretKeySelector = obj(
  'Selects one key of a Secret.',
  {
    ...LocalObjectReferenceProps,
    key: str('The key to read.'),
    optional: bool('Whether the Secret or key may be missing.'),
  },
  { required: ['key'], atomic: true },
);

const EnvVarSource = obj('Where an environment variable value comes from; set exactly one field.', {
  fieldRef: desc(ObjectFieldSelector, 'A pod field such as metadata.name, spec.nodeName or status.podIP.'),
  resourceFieldRef: desc(ResourceFieldSelector, 'A resource limit or request of a container.'),
  configMapKeyRef: desc(ConfigMapKeySelector, 'A key of a ConfigMap.'),
  secretKeyRef: desc(SecretKeySelector, 'A key of a Secret.'),
});

const EnvVar = obj(
  'An environment variable.',
  {
    name: str('Variable name.'),
    value: str('Literal value; $(VAR) references to earlier variables are expanded, $$ escapes.'),
    valueFrom: desc(EnvVarSource, 'Source of the value; cannot be combined with value.'),
  },
  { required: ['name'] },
);

const ResourceClaim = obj(
  'Reference to one entry of the pod resourceClaims.',
  {
    name: str(),
    request: str(),
  },
  { required: ['name'] },
);

const ResourceRequirements = obj('Compute resource requests and limits.', {
  limits: resourceList('Maximum amount of each resource the container may use.'),
  requests: resourceList('Amount of each resource reserved for scheduling; defaults to the limit when only that is set.'),
  claims: list(ResourceClaim, 'Names of pod resource claims this container uses.', { map: ['name'] }),
});

const ContainerResizePolicy = obj(
  'Resize policy for one resource.',
  {
    resourceName: str(),
    restartPolicy: str(),
  },
  { required: ['resourceName', 'restartPolicy'] },
);

const VolumeMount = obj(
  'Mounts a pod volume into a container.',
  {
    name: str('Name of the pod volume.'),
    readOnly: bool('Mount read-only.'),
    recursiveReadOnly: str('Disabled, IfPossible or Enabled: whether read-only applies to submounts too.'),
    mountPath: str('Path inside the container; may not contain ":".'),
    subPath: str('Path within the volume to mount instead of its root.'),
    mountPropagation: str('None, HostToContainer or Bidirectional.'),
    subPathExpr: str('Like subPath, with $(VAR) expansion from the container environment.'),
  },
  { required: ['name', 'mountPath'] },
);

const VolumeDevice = obj(
  'A raw block device inside the container.',
  {
    name: str('Name of a persistentVolumeClaim volume of the pod.'),
    devicePath: str('Device path inside the container.'),
  },
  { required: ['name', 'devicePath'] },
);

const ExecAction = obj('A command to run in the container.', {
  command: list(str(), 'Command line, run without a shell in the container root directory.', { type: 'atomic' }),
});

const HTTPHeader = obj(
  'An HTTP header.',
  {
    name: str('Header name.'),
    value: str('Header value.'),
  },
  { required: ['name', 'value'] },
);

const HTTPGetAction = obj(
  'An HTTP GET request.',
  {
    path: str('Request path.'),
    port: intOrString('Port number or name to connect to.'),
    host: str('Host to connect to; the pod IP by default.'),
    scheme: str('HTTP or HTTPS; HTTP by default.'),
    httpHeaders: list(HTTPHeader, 'Extra request headers.', { type: 'atomic' }),
  },
  { required: ['port'] },
);

const TCPSocketAction = obj(
  'A TCP connection attempt.',
  {
    port: intOrString('Port number or name to connect to.'),
    host: str('Host to connect to; the pod IP by default.'),
  },
  { required: ['port'] },
);

const GRPCAction = obj(
  'A gRPC health check request.',
  {
    port: int32('Port of the gRPC service.'),
    service: { ...str('Service name sent in the health check request.'), default: '' },
  },
  { required: ['port'] },
);

const ProbeHandlerProps = {
  exec: desc(ExecAction, 'Run a command in the container; exit code 0 is success.'),
  httpGet: desc(HTTPGetAction, 'HTTP GET request; a 2xx or 3xx status is success.'),
  tcpSocket: desc(TCPSocketAction, 'Open a TCP connection.'),
  grpc: desc(GRPCAction, 'gRPC health check.'),
};

const Probe = obj('A health check run by the kubelet; set exactly one handler.', {
  ...ProbeHandlerProps,
  initialDelaySeconds: int32('Seconds after container start before the first probe.'),
  timeoutSeconds: int32('Seconds before a probe attempt times out; 1 by default.'),
  periodSeconds: int32('Seconds between probes; 10 by default.'),
  successThreshold: int32('Consecutive successes needed after a failure; 1 by default (and must be 1 for liveness and startup).'),
  failureThreshold: int32('Consecutive failures that count as failed; 3 by default.'),
  terminationGracePeriodSeconds: int64('Grace period used when a failed probe kills the container; overrides the pod value.'),
});

const SleepAction = obj(
  'A pause.',
  {
    seconds: int64('Seconds to sleep.'),
  },
  { required: ['seconds'] },
);

const LifecycleHandler = obj('An action for a lifecycle hook; set exactly one field.', {
  exec: desc(ExecAction, 'Run a command in the container.'),
  httpGet: desc(HTTPGetAction, 'Send an HTTP GET request.'),
  tcpSocket: desc(TCPSocketAction, 'Deprecated; kept for compatibility.'),
  sleep: desc(SleepAction, 'Wait for a number of seconds.'),
});

const Lifecycle = obj('Hooks the kubelet runs on container lifecycle events.', {
  postStart: desc(LifecycleHandler, 'Runs right after the container is created; on failure the container restarts.'),
  preStop: desc(LifecycleHandler, 'Runs before the container is terminated; counts against the grace period.'),
});

const Capabilities = obj('Linux capabilities to add to or drop from the runtime default set.', {
  add: list(str(), 'Capabilities to add.', { type: 'atomic' }),
  drop: list(str(), 'Capabilities to drop.', { type: 'atomic' }),
});

const SELinuxOptions = obj('SELinux labels.', {
  user: str(),
  role: str(),
  type: str(),
  level: str(),
});

const WindowsSecurityContextOptions = obj('Windows-specific security settings.', {
  gmsaCredentialSpecName: str(),
  gmsaCredentialSpec: str(),
  runAsUserName: str(),
  hostProcess: bool(),
});

const SeccompProfile = obj(
  'A seccomp profile.',
  {
    type: str('RuntimeDefault, Unconfined or Localhost.'),
    localhostProfile: str('Profile file on the node, relative to the kubelet seccomp directory; only for Localhost.'),
  },
  { required: ['type'] },
);

const AppArmorProfile = obj(
  'An AppArmor profile.',
  {
    type: str('RuntimeDefault, Unconfined or Localhost.'),
    localhostProfile: str('Name of a profile loaded on the node; only for Localhost.'),
  },
  { required: ['type'] },
);

const SecurityContext = obj('Security settings of a container.', {
  capabilities: desc(Capabilities, 'Linux capabilities to add or drop.'),
  privileged: bool('Run as privileged, like root on the host.'),
  seLinuxOptions: desc(SELinuxOptions, 'SELinux context of the container.'),
  windowsOptions: desc(WindowsSecurityContextOptions, 'Windows-specific settings.'),
  runAsUser: int64('UID the entrypoint runs as.'),
  runAsGroup: int64('GID the entrypoint runs as.'),
  runAsNonRoot: bool('Refuse to start when the process would run as UID 0.'),
  readOnlyRootFilesystem: bool('Mount the root filesystem read-only.'),
  allowPrivilegeEscalation: bool('Whether a process may gain more privileges than its parent (no_new_privs).'),
  procMount: str('Default or Unmasked /proc mount.'),
  seccompProfile: desc(SeccompProfile, 'Seccomp profile of the container.'),
  appArmorProfile: desc(AppArmorProfile, 'AppArmor profile of the container.'),
});

const Container = obj(
  'One application container of a pod.',
  {
    name: str('Container name; a DNS label unique among the containers of the pod. Cannot be updated.'),
    image: str('Container image reference.'),
    command: list(str(), 'Entrypoint array, run without a shell; replaces the image ENTRYPOINT. $(VAR) references are expanded.', { type: 'atomic' }),
    args: list(str(), 'Arguments to the entrypoint; replace the image CMD. $(VAR) references are expanded.', { type: 'atomic' }),
    workingDir: str('Working directory; the image default when empty.'),
    ports: list(ContainerPort, 'Ports the container exposes. Informational only: any port the process listens on is reachable.', {
      map: ['containerPort', 'protocol'],
      mergeKey: 'containerPort',
      strategy: 'merge',
    }),
    envFrom: list(EnvFromSource, 'Sources whose keys all become environment variables; explicit env entries win.', { type: 'atomic' }),
    env: list(EnvVar, 'Environment variables to set.', { map: ['name'], mergeKey: 'name', strategy: 'merge' }),
    resources: desc(ResourceRequirements, 'Compute resources requested by and limited for this container.'),
    resizePolicy: list(ContainerResizePolicy, 'How each resource may be resized in place.', { type: 'atomic' }),
    restartPolicy: str('Only for init containers: Always makes it a sidecar that runs for the life of the pod.'),
    volumeMounts: list(VolumeMount, 'Pod volumes mounted into the container filesystem.', { map: ['mountPath'], mergeKey: 'mountPath', strategy: 'merge' }),
    volumeDevices: list(VolumeDevice, 'Block devices the container uses.', { map: ['devicePath'], mergeKey: 'devicePath', strategy: 'merge' }),
    livenessProbe: desc(Probe, 'Periodic check; the container restarts when it fails.'),
    readinessProbe: desc(Probe, 'Periodic check; the pod is removed from service endpoints while it fails.'),
    startupProbe: desc(Probe, 'Check that must succeed before the other probes start.'),
    lifecycle: desc(Lifecycle, 'Actions run after the container starts and before it stops.'),
    terminationMessagePath: str('File whose contents become the termination message; /dev/termination-log by default.'),
    terminationMessagePolicy: str('File, or FallbackToLogsOnError to use the log tail when the file is empty.'),
    imagePullPolicy: str('Always, Never or IfNotPresent. Always when the tag is :latest or missing, else IfNotPresent.'),
    securityContext: desc(SecurityContext, 'Security options for this container; they override the pod-level ones.'),
    stdin: bool('Allocate a stdin buffer for the container.'),
    stdinOnce: bool('Close stdin after the first attached client disconnects.'),
    tty: bool('Allocate a TTY; needs stdin too.'),
  },
  { required: ['name'] },
);

const EphemeralContainer = obj(
  'A temporary container added to a running pod for debugging.',
  {
    ...Container.properties,
    targetContainerName: str('Container whose namespaces (e.g. process) this one joins.'),
  },
  { required: ['name'] },
);

const Sysctl = obj(
  'A kernel parameter.',
  {
    name: str('Parameter name.'),
    value: str('Parameter value.'),
  },
  { required: ['name', 'value'] },
);

const PodSecurityContext = obj('Security settings that apply to every container of the pod.', {
  seLinuxOptions: SELinuxOptions,
  windowsOptions: WindowsSecurityContextOptions,
  runAsUser: int64('Default UID for the container processes.'),
  runAsGroup: int64('Default GID for the container processes.'),
  runAsNonRoot: bool('Refuse to start containers that would run as UID 0.'),
  supplementalGroups: list(int64(), 'Extra GIDs for the first process of each container.', { type: 'atomic' }),
  supplementalGroupsPolicy: str(),
  fsGroup: int64('GID that owns supported volumes and is added to every container.'),
  sysctls: list(Sysctl, 'Namespaced sysctls set for the pod.', { type: 'atomic' }),
  fsGroupChangePolicy: str('OnRootMismatch or Always: when volume ownership is changed.'),
  seccompProfile: SeccompProfile,
  appArmorProfile: AppArmorProfile,
  seLinuxChangePolicy: str(),
});

const NodeSelectorRequirement = obj(
  'A key, an operator and values.',
  {
    key: str('Label or field key.'),
    operator: str('In, NotIn, Exists, DoesNotExist, Gt or Lt.'),
    values: list(str(), 'Values; one integer for Gt and Lt, none for Exists and DoesNotExist.', { type: 'atomic' }),
  },
  { required: ['key', 'operator'] },
);

const NodeSelectorTerm = obj(
  'Requirements ANDed together; an empty term matches nothing.',
  {
    matchExpressions: list(NodeSelectorRequirement, 'Requirements on node labels.', { type: 'atomic' }),
    matchFields: list(NodeSelectorRequirement, 'Requirements on node fields.', { type: 'atomic' }),
  },
  { atomic: true },
);

const NodeSelector = obj(
  'Nodes matching any of the terms.',
  {
    nodeSelectorTerms: list(NodeSelectorTerm, 'Terms, ORed together.', { type: 'atomic' }),
  },
  { required: ['nodeSelectorTerms'], atomic: true },
);

const PreferredSchedulingTerm = obj(
  'A weighted node selector term.',
  {
    weight: int32('Weight, 1-100.'),
    preference: desc(NodeSelectorTerm, 'The node selector term.'),
  },
  { required: ['weight', 'preference'] },
);

const NodeAffinity = obj('Node affinity rules.', {
  requiredDuringSchedulingIgnoredDuringExecution: desc(NodeSelector, 'Rules a node must meet for the pod to be scheduled there.'),
  preferredDuringSchedulingIgnoredDuringExecution: list(PreferredSchedulingTerm, 'Weighted preferences; the scheduler favours nodes that meet more of them.', {
    type: 'atomic',
  }),
});

const PodAffinityTerm = obj(
  'Pods to be near (or away from) within one topology domain.',
  {
    labelSelector: labelSelector('Label query over pods.'),
    namespaces: list(str(), 'Namespaces to consider; the pod namespace when empty and no namespaceSelector.', { type: 'atomic' }),
    topologyKey: str('Node label whose value defines the topology domain.'),
    namespaceSelector: labelSelector('Label query over namespaces to consider.'),
    matchLabelKeys: list(str(), 'Label keys whose values are taken from this pod and added to labelSelector with In.', { type: 'atomic' }),
    mismatchLabelKeys: list(str(), 'Label keys whose values are taken from this pod and added to labelSelector with NotIn.', { type: 'atomic' }),
  },
  { required: ['topologyKey'] },
);

const WeightedPodAffinityTerm = obj(
  'A weighted pod affinity term.',
  {
    weight: int32('Weight, 1-100.'),
    podAffinityTerm: desc(PodAffinityTerm, 'The pod affinity term.'),
  },
  { required: ['weight', 'podAffinityTerm'] },
);

const PodAffinity = obj('Pod affinity rules.', {
  requiredDuringSchedulingIgnoredDuringExecution: list(PodAffinityTerm, 'Terms that must all hold for the pod to be scheduled.', { type: 'atomic' }),
  preferredDuringSchedulingIgnoredDuringExecution: list(WeightedPodAffinityTerm, 'Weighted preferences.', { type: 'atomic' }),
});

const PodAntiAffinity = obj('Pod anti-affinity rules.', {
  requiredDuringSchedulingIgnoredDuringExecution: list(PodAffinityTerm, 'Terms that must all hold for the pod to be scheduled.', { type: 'atomic' }),
  preferredDuringSchedulingIgnoredDuringExecution: list(WeightedPodAffinityTerm, 'Weighted preferences.', { type: 'atomic' }),
});

const Affinity = obj('Scheduling constraints relative to nodes and other pods.', {
  nodeAffinity: desc(NodeAffinity, 'Rules on the labels of the node.'),
  podAffinity: desc(PodAffinity, 'Rules that co-locate the pod with other pods.'),
  podAntiAffinity: desc(PodAntiAffinity, 'Rules that keep the pod away from other pods.'),
});

export const Toleration = obj('Allows the pod onto nodes with a matching taint.', {
  key: str('Taint key; empty with operator Exists matches every key.'),
  operator: str('Exists or Equal (the default).'),
  value: str('Taint value to match; empty for Exists.'),
  effect: str('Taint effect to match; empty matches all effects.'),
  tolerationSeconds: int64('For NoExecute: how long the pod stays bound after the taint appears.'),
});

const HostAlias = obj(
  'Extra /etc/hosts entry.',
  {
    ip: str('IP address of the entry.'),
    hostnames: list(str(), 'Host names for the IP.', { type: 'atomic' }),
  },
  { required: ['ip'] },
);

const PodDNSConfigOption = obj('A resolver option.', {
  name: str(),
  value: str(),
});

const PodDNSConfig = obj('DNS settings merged with those derived from dnsPolicy.', {
  nameservers: list(str(), 'Extra DNS server IPs.', { type: 'atomic' }),
  searches: list(str(), 'Extra search domains.', { type: 'atomic' }),
  options: list(PodDNSConfigOption, 'Resolver options.', { type: 'atomic' }),
});

const PodReadinessGate = obj(
  'An extra pod condition that must be True for the pod to be ready.',
  {
    conditionType: str('Condition type to check.'),
  },
  { required: ['conditionType'] },
);

const TopologySpreadConstraint = obj(
  'How to spread matching pods over a topology.',
  {
    maxSkew: int32('Largest allowed difference in matching pods between two domains.'),
    topologyKey: str('Node label that defines the domains.'),
    whenUnsatisfiable: str('DoNotSchedule or ScheduleAnyway.'),
    labelSelector: labelSelector('Pods counted in each domain.'),
    minDomains: int32('Minimum number of eligible domains.'),
    nodeAffinityPolicy: str('Honor or Ignore: whether node affinity filters the domains.'),
    nodeTaintsPolicy: str('Honor or Ignore: whether node taints filter the domains.'),
    matchLabelKeys: list(str(), 'Pod label keys whose values narrow labelSelector.', { type: 'atomic' }),
  },
  { required: ['maxSkew', 'topologyKey', 'whenUnsatisfiable'] },
);

const PodOS = obj(
  'Operating system of the pod.',
  {
    name: str('linux or windows.'),
  },
  { required: ['name'] },
);

const PodSchedulingGate = obj(
  'A gate that keeps the pod from being scheduled while present.',
  {
    name: str('Gate name, unique in the pod.'),
  },
  { required: ['name'] },
);

const PodResourceClaim = obj(
  'A dynamic resource claim used by the pod.',
  {
    name: str(),
    resourceClaimName: str(),
    resourceClaimTemplateName: str(),
  },
  { required: ['name'] },
);

export const PodSpec = obj(
  'Desired state of a pod.',
  {
    volumes: list(Volume, 'Volumes that containers of the pod can mount.', { map: ['name'], mergeKey: 'name', strategy: 'merge,retainKeys' }),
    initContainers: list(Container, 'Containers run in order before the app containers start; each must succeed. Cannot be updated.', {
      map: ['name'],
      mergeKey: 'name',
      strategy: 'merge',
    }),
    containers: list(Container, 'The app containers; at least one. Cannot be added or removed.', { map: ['name'], mergeKey: 'name', strategy: 'merge' }),
    ephemeralContainers: list(EphemeralContainer, 'Debugging containers added through the ephemeralcontainers subresource.', {
      map: ['name'],
      mergeKey: 'name',
      strategy: 'merge',
    }),
    restartPolicy: str('Always (the default), OnFailure or Never.'),
    terminationGracePeriodSeconds: int64('Seconds a container gets to stop after SIGTERM before it is killed; 30 by default.'),
    activeDeadlineSeconds: int64('Seconds the pod may run on a node before it is marked failed.'),
    dnsPolicy: str('ClusterFirst (the default), ClusterFirstWithHostNet, Default or None.'),
    nodeSelector: atomicMap(strMap('Labels a node must carry for the pod to be scheduled on it.')),
    serviceAccountName: str('Service account the pod runs as.'),
    serviceAccount: str('Deprecated alias of serviceAccountName.'),
    automountServiceAccountToken: bool('Whether a service account token is mounted automatically.'),
    nodeName: str('Node the pod is bound to; set by the scheduler through the binding subresource.'),
    hostNetwork: bool('Use the network namespace of the host.'),
    hostPID: bool('Use the process namespace of the host.'),
    hostIPC: bool('Use the IPC namespace of the host.'),
    shareProcessNamespace: bool("Let the containers of the pod see each other's processes."),
    securityContext: desc(PodSecurityContext, 'Pod-level security settings.'),
    imagePullSecrets: list(LocalObjectReference, 'Secrets used to pull the images.', { map: ['name'], mergeKey: 'name', strategy: 'merge' }),
    hostname: str('Host name of the pod; the pod name by default.'),
    subdomain: str('Subdomain; with a headless service the pod gets <hostname>.<subdomain>.<namespace>.svc.<domain>.'),
    affinity: desc(Affinity, 'Scheduling constraints.'),
    schedulerName: str('Scheduler that handles the pod; default-scheduler by default.'),
    tolerations: list(Toleration, 'Taints the pod tolerates.', { type: 'atomic' }),
    hostAliases: list(HostAlias, 'Extra /etc/hosts entries.', { map: ['ip'], mergeKey: 'ip', strategy: 'merge' }),
    priorityClassName: str('PriorityClass giving the pod priority.'),
    priority: int32('Priority value, filled from priorityClassName.'),
    dnsConfig: desc(PodDNSConfig, 'Extra DNS settings.'),
    readinessGates: list(PodReadinessGate, 'Extra conditions that must be True for the pod to be ready.', { type: 'atomic' }),
    runtimeClassName: str('RuntimeClass used to run the pod.'),
    enableServiceLinks: bool('Inject environment variables describing services; true by default.'),
    preemptionPolicy: str('PreemptLowerPriority or Never.'),
    overhead: resourceList('Resources the pod sandbox consumes on top of the containers; set from the RuntimeClass.'),
    topologySpreadConstraints: list(TopologySpreadConstraint, 'How pods spread over topology domains.', {
      map: ['topologyKey', 'whenUnsatisfiable'],
      mergeKey: 'topologyKey',
      strategy: 'merge',
    }),
    setHostnameAsFQDN: bool('Set the host name to the fully qualified domain name.'),
    os: desc(PodOS, 'Operating system the containers need.'),
    hostUsers: bool('Use the user namespace of the host; false requests a new user namespace.'),
    schedulingGates: list(PodSchedulingGate, 'Gates that block scheduling until all are removed.', { map: ['name'], mergeKey: 'name', strategy: 'merge' }),
    resourceClaims: list(PodResourceClaim, 'Dynamic resource claims the pod needs.', { map: ['name'], mergeKey: 'name', strategy: 'merge,retainKeys' }),
    resources: desc(ResourceRequirements, 'Pod-level resource requests and limits.'),
  },
  { required: ['containers'] },
);

const PodCondition = obj(
  'One condition of a pod.',
  {
    type: str('Condition type.'),
    status: str('True, False or Unknown.'),
    lastProbeTime: time('When the condition was last checked.'),
    lastTransitionTime: time('When the status last changed.'),
    reason: str('Short CamelCase reason for the last transition.'),
    message: str('Human-readable details.'),
  },
  { required: ['type'] },
);

const HostIP = obj(
  'An IP of the node.',
  {
    ip: str('The address.'),
  },
  { required: ['ip'] },
);

const PodIP = obj(
  'An IP of the pod.',
  {
    ip: str('The address.'),
  },
  { required: ['ip'] },
);

const ContainerStateWaiting = obj('A waiting container.', {
  reason: str('Why it is waiting, e.g. ContainerCreating or CrashLoopBackOff.'),
  message: str('Details.'),
});

const ContainerStateRunning = obj('A running container.', {
  startedAt: time('When the container last started.'),
});

const ContainerStateTerminated = obj('A terminated container.', {
  exitCode: int32('Exit status of the last run.'),
  signal: int32('Signal that ended the last run.'),
  reason: str('Why it terminated, e.g. Completed or Error.'),
  message: str('Details.'),
  startedAt: time('When the last run started.'),
  finishedAt: time('When the last run ended.'),
  containerID: str('Runtime ID of the container.'),
});

const ContainerState = obj('State of a container; one field is set.', {
  waiting: desc(ContainerStateWaiting, 'Not running yet.'),
  running: desc(ContainerStateRunning, 'Running.'),
  terminated: desc(ContainerStateTerminated, 'Finished or failed.'),
});

const VolumeMountStatus = obj(
  'A mount of a running container.',
  {
    name: str(),
    mountPath: str(),
    readOnly: bool(),
    recursiveReadOnly: str(),
  },
  { required: ['name', 'mountPath'] },
);

const LinuxContainerUser = obj('Linux identity of a container process.', {
  uid: int64(),
  gid: int64(),
  supplementalGroups: list(int64(), undefined, { type: 'atomic' }),
});

const ContainerUser = obj('Identity of a container process.', {
  linux: LinuxContainerUser,
});

const ResourceHealth = obj(
  'Health of one allocated device.',
  {
    resourceID: str(),
    health: str(),
  },
  { required: ['resourceID'] },
);

const ResourceStatus = obj(
  'Health of the devices allocated for one resource.',
  {
    name: str(),
    resources: list(ResourceHealth, undefined, { map: ['resourceID'] }),
  },
  { required: ['name'] },
);

const ContainerStatus = obj(
  'Observed state of one container.',
  {
    name: str('Container name.'),
    state: desc(ContainerState, 'Current state.'),
    lastState: desc(ContainerState, 'State of the previous run, if the container restarted.'),
    ready: bool('Whether the readiness probe passes.'),
    restartCount: int32('Number of restarts.'),
    image: str('Image the container runs.'),
    imageID: str('Resolved image ID.'),
    containerID: str('Runtime ID, as <type>://<id>.'),
    started: bool('Whether the startup probe has passed.'),
    allocatedResources: resourceList('Resources the node allocated to the container.'),
    resources: desc(ResourceRequirements, 'Resources the runtime has applied.'),
    volumeMounts: list(VolumeMountStatus, 'Mounts the container has.', { map: ['mountPath'], mergeKey: 'mountPath', strategy: 'merge' }),
    user: desc(ContainerUser, 'Identity the container process runs as.'),
    allocatedResourcesStatus: list(ResourceStatus, 'Health of the resources allocated to the container.', {
      map: ['name'],
      mergeKey: 'name',
      strategy: 'merge',
    }),
  },
  { required: ['name'] },
);

const PodResourceClaimStatus = obj(
  'The ResourceClaim generated for one pod resource claim.',
  {
    name: str(),
    resourceClaimName: str(),
  },
  { required: ['name'] },
);

export const PodStatus = obj('Observed state of a pod, reported by the kubelet.', {
  phase: str('Pending, Running, Succeeded, Failed or Unknown.'),
  conditions: list(PodCondition, 'Current conditions, e.g. PodScheduled, Initialized, ContainersReady, Ready.', {
    map: ['type'],
    mergeKey: 'type',
    strategy: 'merge',
  }),
  message: str('Human-readable reason for the current state.'),
  reason: str('Short CamelCase reason for the current state, e.g. Evicted.'),
  nominatedNodeName: str('Node the scheduler expects to use after preempting pods there.'),
  hostIP: str('Primary IP of the node the pod runs on.'),
  hostIPs: list(HostIP, 'IPs of the node the pod runs on.', { type: 'atomic', mergeKey: 'ip', strategy: 'merge' }),
  podIP: str('Primary IP of the pod.'),
  podIPs: list(PodIP, 'IPs of the pod, one per address family.', { map: ['ip'], mergeKey: 'ip', strategy: 'merge' }),
  startTime: time('When the kubelet accepted the pod.'),
  initContainerStatuses: list(ContainerStatus, 'Status of each init container.', { type: 'atomic' }),
  containerStatuses: list(ContainerStatus, 'Status of each app container.', { type: 'atomic' }),
  qosClass: str('Quality of service class: Guaranteed, Burstable or BestEffort.'),
  ephemeralContainerStatuses: list(ContainerStatus, 'Status of each ephemeral container.', { type: 'atomic' }),
  resize: str('State of a pending in-place resize.'),
  resourceClaimStatuses: list(PodResourceClaimStatus, 'Names of the generated resource claims.', {
    map: ['name'],
    mergeKey: 'name',
    strategy: 'merge,retainKeys',
  }),
});

const Taint = obj(
  'A taint; pods that do not tolerate it are affected according to its effect.',
  {
    key: str('Taint key.'),
    value: str('Taint value.'),
    effect: str('NoSchedule, PreferNoSchedule or NoExecute.'),
    timeAdded: time('When a NoExecute taint was added.'),
  },
  { required: ['key', 'effect'] },
);

const ConfigMapNodeConfigSource = obj(
  'Deprecated: a ConfigMap holding kubelet configuration.',
  {
    namespace: str(),
    name: str(),
    uid: /*TODO types.UID*/ str(),
    resourceVersion: str(),
    kubeletConfigKey: str(),
  },
  { required: ['namespace', 'name', 'kubeletConfigKey'] },
);

const NodeConfigSource = obj('Deprecated: where kubelet configuration comes from.', {
  configMap: ConfigMapNodeConfigSource,
});

export const NodeSpec = obj('Desired state of a node.', {
  podCIDR: str('Pod IP range assigned to the node.'),
  podCIDRs: list(str(), 'Pod IP ranges assigned to the node, one per address family.', { type: 'set', strategy: 'merge' }),
  providerID: str('ID of the node in the cloud provider: <provider>://<id>.'),
  unschedulable: bool('Keep new pods off the node (kubectl cordon).'),
  taints: list(Taint, 'Taints that repel pods without a matching toleration.', { type: 'atomic' }),
  configSource: desc(NodeConfigSource, 'Deprecated; ignored.'),
  externalID: str('Deprecated; ignored.'),
});

const NodeCondition = obj(
  'One condition of a node.',
  {
    type: str('Condition type, e.g. Ready.'),
    status: str('True, False or Unknown.'),
    lastHeartbeatTime: time('When the condition was last reported.'),
    lastTransitionTime: time('When the status last changed.'),
    reason: str('Short CamelCase reason for the last transition.'),
    message: str('Human-readable details.'),
  },
  { required: ['type'] },
);

const NodeAddress = obj(
  'An address of the node.',
  {
    type: str('Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.'),
    address: str('The address.'),
  },
  { required: ['type'] },
);

const DaemonEndpoint = obj('A daemon port.', {
  Port: int32('Port number.'),
});

const NodeDaemonEndpoints = obj('Ports of daemons on the node.', {
  kubeletEndpoint: desc(DaemonEndpoint, 'Port the kubelet listens on.'),
});

const NodeSystemInfo = obj('Identifiers and versions of the node.', {
  machineID: str('Machine ID from /etc/machine-id.'),
  systemUUID: str('Hardware UUID.'),
  bootID: str('ID of the current boot.'),
  kernelVersion: str('Kernel version (uname -r).'),
  osImage: str('Operating system image name.'),
  containerRuntimeVersion: str('Container runtime and version, e.g. containerd://1.7.0.'),
  kubeletVersion: str('Kubelet version.'),
  kubeProxyVersion: str('Deprecated: kube-proxy version.'),
  operatingSystem: str('Operating system, e.g. linux.'),
  architecture: str('CPU architecture, e.g. amd64.'),
});

const ContainerImage = obj('An image on the node.', {
  names: list(str(), 'Names of the image.', { type: 'atomic' }),
  sizeBytes: int64('Image size in bytes.'),
});

const AttachedVolume = obj(
  'A volume attached to the node.',
  {
    name: str(),
    devicePath: str(),
  },
  { required: ['name'] },
);

const NodeConfigStatus = obj('Deprecated: status of dynamic kubelet configuration.', {
  assigned: NodeConfigSource,
  active: NodeConfigSource,
  lastKnownGood: NodeConfigSource,
  error: str(),
});

const NodeRuntimeHandlerFeatures = obj('Features of a runtime handler.', {
  recursiveReadOnlyMounts: bool(),
  userNamespaces: bool(),
});

const NodeRuntimeHandler = obj('A runtime handler of the node.', {
  name: str(),
  features: NodeRuntimeHandlerFeatures,
});

const NodeFeatures = obj('Features supported by the node.', {
  supplementalGroupsPolicy: bool(),
});

export const NodeStatus = obj('Observed state of a node.', {
  capacity: resourceList('Total resources of the node.'),
  allocatable: resourceList('Resources available to pods.'),
  phase: str('Deprecated and unused.'),
  conditions: list(NodeCondition, 'Current conditions, e.g. Ready, MemoryPressure, DiskPressure, PIDPressure.', {
    map: ['type'],
    mergeKey: 'type',
    strategy: 'merge',
  }),
  addresses: list(NodeAddress, 'Addresses of the node.', { map: ['type'], mergeKey: 'type', strategy: 'merge' }),
  daemonEndpoints: desc(NodeDaemonEndpoints, 'Endpoints of daemons on the node.'),
  nodeInfo: desc(NodeSystemInfo, 'Identifiers and versions reported by the node.'),
  images: list(ContainerImage, 'Images present on the node.', { type: 'atomic' }),
  volumesInUse: list(str(), 'Volumes mounted on the node.', { type: 'atomic' }),
  volumesAttached: list(AttachedVolume, 'Volumes attached to the node.', { type: 'atomic' }),
  config: desc(NodeConfigStatus, 'Deprecated dynamic kubelet configuration status.'),
  runtimeHandlers: list(NodeRuntimeHandler, 'Runtime handlers available on the node.', { type: 'atomic' }),
  features: desc(NodeFeatures, 'Features the node supports.'),
});

export const ObjectReference = obj(
  'A reference to an API object.',
  {
    kind: str('Kind of the referent.'),
    namespace: str('Namespace of the referent.'),
    name: str('Name of the referent.'),
    uid: /*TODO types.UID*/ str('UID of the referent.'),
    apiVersion: str('API version of the referent.'),
    resourceVersion: str('Resource version of the referent the reference was made against.'),
    fieldPath: str('Path to a part of the referent, e.g. spec.containers{name} for a container.'),
  },
  { atomic: true },
);

export const EventSource = obj('The component that reported an event.', {
  component: str('Reporting component.'),
  host: str('Node the component runs on.'),
});
