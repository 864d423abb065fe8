"""The Docker Swarm calls of the cluster backend, through the Docker SDK: a version's service spec
(replicated, port 5000 published in host mode, limits, the health check, GPUs as the generic resource
``NVIDIA-GPU``), the replica count changed in place, a task's logs, and whether any node has a GPU."""

from __future__ import annotations

from typing import Any

GPU_RESOURCE = "NVIDIA-GPU"
HEALTH_CMD = (
    "import json,sys,urllib.request as u\n"
    "s=json.load(u.urlopen('http://127.0.0.1:5000/health-check',timeout=4)).get('status')\n"
    "sys.exit(0 if s in ('READY','BUSY') else 1)"
)
GONE = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}


def create_service(
    client: Any, image: str, name: str, labels: dict[str, str], *, gpu: bool, replicas: int,
    cpus: float | None, memory: int | None, setup_timeout: float,
) -> Any:  # fmt: skip
    """The version's service, created with ``replicas`` replicas."""
    from docker.types import EndpointSpec, Healthcheck, Resources, RestartPolicy, ServiceMode

    res: dict[str, Any] = {}
    if cpus:
        res["cpu_limit"] = int(cpus * 1e9)
    if memory:
        res["mem_limit"] = memory
    if gpu:
        res["generic_resources"] = {GPU_RESOURCE: 1}
    return client.services.create(
        image,
        name=name,
        labels=labels,
        container_labels=labels,
        mode=ServiceMode("replicated", replicas=replicas),
        endpoint_spec=EndpointSpec(ports=[{"Protocol": "tcp", "TargetPort": 5000, "PublishMode": "host"}]),
        resources=Resources(**res),
        healthcheck=Healthcheck(
            test=["CMD", "python3", "-c", HEALTH_CMD],
            interval=int(2e9),
            timeout=int(5e9),
            retries=3,
            start_period=int(setup_timeout * 1e9),
        ),
        restart_policy=RestartPolicy(condition="any", delay=int(0.5e9)),
        preferences=[("spread", "node.id")],
        stop_grace_period=int(10e9),
    )


def set_replicas(client: Any, sid: str, n: int) -> None:
    """The service's own spec with only the replica count changed (the SDK's ``scale`` re-sends a
    spec of its own, which Swarm takes for a new one and replaces every running task)."""
    api = client.api
    cur = api.inspect_service(sid)
    spec = cur["Spec"]
    spec["Mode"] = {"Replicated": {"Replicas": n}}
    res = api._post_json(
        api._url("/services/{0}/update", sid), data=spec, params={"version": cur["Version"]["Index"]}
    )
    api._raise_for_status(res)


def task_logs(client: Any, task_id: str) -> str:
    """The last 200 lines a task wrote ("" when there are none to be had)."""
    if not task_id:
        return ""
    try:
        api = client.api
        res = api._get(
            api._url("/tasks/{0}/logs", task_id),
            params={"stdout": 1, "stderr": 1, "tail": 200},
            stream=False,
        )
        api._raise_for_status(res)
        raw = api._multiplexed_buffer_helper(res)
        return b"".join(raw).decode(errors="replace")
    except Exception:  # noqa: BLE001 - logs are a courtesy
        return ""


def any_gpu(client: Any) -> bool:
    """Whether a node of the swarm advertises the GPU resource."""
    for n in client.nodes.list():
        res = ((n.attrs.get("Description") or {}).get("Resources") or {}).get("GenericResources") or []
        for g in res:
            spec = g.get("DiscreteResourceSpec") or g.get("NamedResourceSpec") or {}
            if spec.get("Kind") == GPU_RESOURCE:
                return True
    return False
