"""A node in its own rclpy context, spun by a SingleThreadedExecutor on a daemon thread: stand-ins for the other end
of a topic contract (an assistant, a Gazebo bridge) in integration tests."""
import threading

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor


class SpunNode:
    def __init__(self, name: str, namespace: str = '') -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)

    def start_spinning(self) -> None:
        """Call once the subclass has created its publishers, subscriptions and timers."""
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shut down under us
            pass

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(timeout=2.0)
