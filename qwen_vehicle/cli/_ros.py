"""A short-lived rclpy node for CLI commands: private context, spun in the foreground, always cleaned up."""
from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def cli_node(prefix: str) -> Iterator[tuple[object, object]]:
    """(node, executor) on a private context; the node name is unique so several CLIs can run at once."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = executor = None
    try:
        node = rclpy.create_node(f'{prefix}_{uuid.uuid4().hex[:8]}', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        yield node, executor
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)


def spin_until(executor, done: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Spin until done() or the timeout; True when done() became true."""
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        executor.spin_once(timeout_sec=min(step, left))
    return True


def domain_hint() -> str:
    return (f'ROS_DOMAIN_ID={os.environ.get("ROS_DOMAIN_ID", "0 (unset)")}, '
            f'ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "unset")}')
