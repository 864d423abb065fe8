"""Every label name cogpin writes or reads, on images (Cog's ``run.cog.*``, cogpin's ``dev.cogpin.*``,
the OCI ones), on the containers and services it starts, and on the swarm nodes the hub runs models on."""

from __future__ import annotations

# image labels Cog defines (a Cog-built image carries them too)
COG_CONFIG = "run.cog.config"  # the effective cog.yaml in Cog's shape (cogpin.config.effective_json)
COG_VERSION = "run.cog.version"  # the runtime's version
OPENAPI_SCHEMA = "run.cog.openapi_schema"  # the predictor's schema, read from the built image
PIP_FREEZE = "run.cog.pip_freeze"  # name==version of every Python package the lock installs

# image labels of cogpin's own
README = "run.cogpin.readme"  # the project's README, shown by the hub's web pages (cogpin build does not write it yet)
LOCK = "dev.cogpin.lock"  # sha256:<cog.lock's bytes>
TEMPLATE = "dev.cogpin.template"  # the template version the Dockerfile was rendered with
IDENTITY = "dev.cogpin.identity"  # the image's content identity (cogpin.builder.identity)

# OCI image labels (title, revision, created come from the machine rather than the lock)
OCI_TITLE = "org.opencontainers.image.title"
OCI_REVISION = "org.opencontainers.image.revision"
OCI_CREATED = "org.opencontainers.image.created"
OCI_BASE_NAME = "org.opencontainers.image.base.name"
OCI_BASE_DIGEST = "org.opencontainers.image.base.digest"

# container labels
ROLE = "run.cogpin.role"  # every container cogpin starts for a model: predict|run|serve|schema
TEMPORARY = "dev.cogpin.temporary"  # a throwaway container of the build (the schema step)
WHEELHOUSE = "dev.cogpin.wheelhouse"  # the engine-side wheel server and its upload helpers

# the hub's containers and swarm services (cogpin.hub.runner, cogpin.hub.swarm)
HUB = "dev.cogpin.hub"  # the hub's id (one per data dir), to find its own instances again
HUB_VERSION = "dev.cogpin.hub.version"
HUB_MODEL = "dev.cogpin.hub.model"

# swarm node labels (set by scripts/dev-env cluster up, or by an operator)
NODE_NAME = "dev.cogpin.node"  # the node's name in the hub's status (else its hostname)
NODE_ADDR = "dev.cogpin.addr"  # where the hub reaches the ports published on the node
