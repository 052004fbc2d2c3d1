"""Start JAX's runtime in this process: its CPU device count, and joining a cluster.

Both must happen before JAX's first computation in the process: ``jax_num_cpu_devices`` fixes
how many CPU devices the backend makes, and :func:`jax.distributed.initialize` connects to the
coordinator (process 0 runs it) so that ``jax.devices()`` lists every process's devices.
CPU collectives across processes go through gloo; GPUs and TPUs bring their own (NCCL, ICI),
and ``jax_num_cpu_devices`` does not touch them.
"""

import jax

FN = "`jrnn.distributed.main`"


def start(
    *,
    processes: int,
    devices_per_process: int,
    coordinator: str | None,
    process_id: int | None,
    timeout: float,
) -> None:
    """Set up JAX in this process: ``devices_per_process`` CPU devices, and the cluster if any.

    Args:
        processes: processes in the cluster; 1 runs alone, without ``jax.distributed``.
        devices_per_process: devices each process contributes (on CPU: how many it makes).
        coordinator: ``HOST:PORT`` of process 0's coordinator, when ``processes > 1``.
        process_id: this process's index in ``[0, processes)``, when ``processes > 1``.
        timeout: seconds to wait for every process to join, and to leave.

    Raises:
        ValueError: this process ends up with another number of local devices than
            ``devices_per_process`` (JAX was already running here, or the GPUs/TPUs it sees
            are not that many).
    """
    try:
        jax.config.update("jax_num_cpu_devices", devices_per_process)
    except RuntimeError:
        pass  # JAX already computed here; fine if its device count is the one asked for
    if processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=processes,
            process_id=process_id,
            initialization_timeout=max(1, int(timeout)),
            # the others wait in shutdown while process 0 trains its one-device reference
            shutdown_timeout_seconds=max(1, int(timeout)),
        )
    local = jax.local_devices()
    if len(local) != devices_per_process:
        raise ValueError(
            f"{FN}: expected devices_per_process={devices_per_process} local devices, this "
            f"process has {len(local)} ({local[0].platform}). On CPU, run in a fresh process "
            "(JAX's CPU device count is fixed by its first computation); on GPU or TPU, pass "
            f"devices_per_process={len(local)}, the devices JAX sees here."
        )


def stop(processes: int) -> None:
    """Leave the cluster (a barrier with the other processes) when ``processes > 1``."""
    if processes > 1:
        jax.distributed.shutdown()
