"""``rail-seg doctor``'s checks: what on this host decides whether camera-sized images cross processes over DDS.

Static checks (RMW and DDS version, the profile in effect, /dev/shm, socket-buffer and IP-fragment sysctls,
the discovery range), then a live probe on loopback: a child process (:mod:`rail_seg_ros.dds_probe`)
publishes 1080p rgb8 frames best effort and reliable, without and with the package's profile, and this
process counts what arrives. A finding is ``ok``, ``warn`` (worth fixing) or ``fail`` (frames are lost).
"""
# The Jetson target runs Python 3.8: typing.Dict/List/Optional on purpose.

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from . import dds
from .contract import BEST_EFFORT, RELIABILITIES
from .errors import RailSegError

OK, WARN, FAIL = "ok", "warn", "fail"
SHM = Path("/dev/shm")
SYSCTL = Path("/proc/sys")
# (sysctl, value the ROS 2 DDS tuning guide gives, why); a lower value is a warning (a failure for Cyclone's rmem_max)
SYSCTLS = (
    ("net/core/rmem_max", 2147483647, "largest socket receive buffer a process may ask for (Cyclone asks 10 MB)"),
    ("net/ipv4/ipfrag_time", 3, "seconds an incomplete IP datagram holds the fragment buffer (lower is better)"),
    ("net/ipv4/ipfrag_high_thresh", 134217728, "bytes of IP fragments the kernel keeps for reassembly"),
)
CYCLONE_BUFFER = 10 * 1000 * 1000
LOOPBACK_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}


class Finding(NamedTuple):
    level: str  # OK, WARN or FAIL
    what: str
    detail: str
    fix: str = ""


def _read_sysctl(name: str) -> Optional[int]:
    try:
        return int((SYSCTL / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def check_rmw(env: Dict[str, str]) -> List[Finding]:
    rmw = dds.rmw_implementation(env)
    findings = [Finding(OK, "RMW", f"{rmw}" + (" (RMW_IMPLEMENTATION unset: the default)"
                                              if not env.get("RMW_IMPLEMENTATION") else ""))]
    if dds.is_fastdds(rmw):
        version, source = dds.fastdds_version(env)
        shown = ".".join(str(v) for v in version) if version else "unknown"
        findings.append(Finding(OK if version else WARN, "DDS", f"Fast DDS {shown} ({source})"))
    return findings


def check_profile(env: Dict[str, str]) -> List[Finding]:
    """The profile a camera driver started from this environment would get."""
    profile = dds.profile_in_effect(env)
    package = dds.package_profile(dds.without_profiles(env))
    export = f"export {package.variable}={package.value}" if package.variable else ""
    if profile.source == "user":
        return [Finding(OK, "DDS profile", f"{profile.note}; the node uses it as it is")]
    if profile.source == "package":
        return [Finding(OK, "DDS profile", profile.note)]
    if not package.variable:
        return [Finding(WARN, "DDS profile", package.note)]
    return [Finding(WARN, "DDS profile", "none exported: segmentation_node and the launch files apply the "
                                         "package's own, but a camera driver started elsewhere keeps the "
                                         "512 KiB shared-memory segment",
                    f"export it system-wide (e.g. in /etc/environment or the driver's service): {export}")]


def check_shm(env: Dict[str, str]) -> List[Finding]:
    if not dds.is_fastdds(dds.rmw_implementation(env)):
        return []
    try:
        stat = os.statvfs(SHM)
    except OSError as exc:
        return [Finding(FAIL, "/dev/shm", f"not usable ({exc}): Fast DDS cannot use shared memory",
                        "mount a tmpfs on /dev/shm (docker: --shm-size=512m or --ipc=host)")]
    total, free = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
    need = 2 * dds.SHM_SEGMENT_BYTES  # the node's segment and a camera driver's
    text = f"{total / 2**20:.0f} MiB, {free / 2**20:.0f} MiB free"
    if free < need:
        return [Finding(FAIL, "/dev/shm", f"{text}: less than two {dds.SHM_SEGMENT_BYTES // 2**20} MiB segments "
                                          f"(the node's and a camera's) fit",
                        "enlarge /dev/shm (docker: --shm-size=512m or --ipc=host)")]
    return [Finding(OK, "/dev/shm", text)]


def check_sysctls(env: Dict[str, str]) -> List[Finding]:
    cyclone = dds.rmw_implementation(env) == dds.RMW_CYCLONEDDS
    findings = []
    for name, wanted, why in SYSCTLS:
        value = _read_sysctl(name)
        key = name.replace("/", ".")
        if value is None:
            findings.append(Finding(WARN, key, "cannot be read"))
            continue
        low_is_good = name.endswith("ipfrag_time")
        good = value <= wanted if low_is_good else value >= wanted
        if good:
            findings.append(Finding(OK, key, str(value)))
            continue
        level = FAIL if cyclone and name == "net/core/rmem_max" and value < CYCLONE_BUFFER else WARN
        findings.append(Finding(level, key, f"{value} ({why}; the DDS tuning guide gives {wanted})",
                                f"sudo sysctl -w {key}={wanted} (and in /etc/sysctl.d/ to keep it)"))
    return findings


def check_discovery(env: Dict[str, str]) -> List[Finding]:
    shown = ", ".join(f"{k}={env[k]}" for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY",
                                                "ROS_STATIC_PEERS", "ROS_DOMAIN_ID") if env.get(k))
    return [Finding(OK, "discovery", shown or "defaults (subnet, domain 0)")]


def static_checks(env: Dict[str, str]) -> List[Finding]:
    findings: List[Finding] = []
    for check in (check_rmw, check_profile, check_shm, check_sysctls, check_discovery):
        findings += check(env)
    return findings


class ProbeCase(NamedTuple):
    label: str  # "without the profile", "with the package's profile", "as this shell has it"
    reliability: str
    env: Dict[str, str]


class ProbeResult(NamedTuple):
    case: ProbeCase
    received: int
    frames: int
    error: str = ""


def probe_cases(env: Dict[str, str]) -> List[ProbeCase]:
    """Both reliabilities without and with the package's profile (and with the user's own, if set)."""
    variants = [("without a profile", dds.without_profiles(env)),
                ("with the package's profile", dds.with_package_profile(env))]
    if dds.profile_in_effect(env).source == "user":
        variants.append(("with this shell's own DDS settings", dict(env)))
    return [ProbeCase(label, reliability, variant) for label, variant in variants for reliability in RELIABILITIES]


class _Probe:
    """One case in flight: its subscription, the frames seen, the child publisher (gated)."""

    def __init__(self, node, case: ProbeCase, frames: int, domain: int, topic: str) -> None:
        from sensor_msgs.msg import Image

        from .dds_probe import frame_number
        from .qos import qos_profile

        self.case, self.frames, self.seen, self.error = case, frames, set(), ""
        self.subscription = node.create_subscription(
            Image, topic, lambda msg: self.seen.add(frame_number(msg.header.frame_id)),
            qos_profile(case.reliability, frames))
        command = [sys.executable, "-m", "rail_seg_ros.dds_probe", "--topic", topic, "--reliability",
                   case.reliability, "--frames", str(frames), "--gated"]
        self.child = subprocess.Popen(command, env=dict(case.env, ROS_DOMAIN_ID=str(domain), **LOOPBACK_ENV),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)

    def expect(self, word: str) -> bool:
        """Read the child's output up to ``word``; False (with the error kept) when it ends first."""
        for line in self.child.stdout:
            if line.strip() == word:
                return True
            self.error = line.strip()  # the last thing it said (a match timeout, a traceback's last line)
        code = self.child.wait()
        self.error = f"probe publisher exited {code}" + (f": {self.error}" if self.error else "")
        return False

    def run(self) -> None:
        """Wait for the match, let it publish, wait until it is done."""
        from .dds_probe import DONE, GO, READY

        if self.expect(READY):
            self.child.stdin.write(GO + "\n")
            self.child.stdin.flush()
            self.expect(DONE)

    def result(self, node) -> ProbeResult:
        self.stop()
        node.destroy_subscription(self.subscription)
        return ProbeResult(self.case, len(self.seen - {None}), self.frames, self.error)

    def stop(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        for stream in (self.child.stdin, self.child.stdout):
            try:
                stream.close()
            except OSError:
                pass


def check_probe_options(frames: int, domain: int) -> None:
    if frames < 1:
        raise RailSegError(f"--frames {frames}: expected at least 1")
    if not 0 <= domain <= 232:
        raise RailSegError(f"--domain {domain}: expected 0 to 232")


def live_probe(env: Dict[str, str], frames: int, domain: int) -> List[ProbeResult]:
    """Run every probe case on loopback in ``domain``; this process subscribes with its own environment.

    The children start together (their start-up overlaps) and publish one after another.
    """
    check_probe_options(frames, domain)
    os.environ.update(LOOPBACK_ENV, ROS_DOMAIN_ID=str(domain))  # this process's participant stays on loopback
    try:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
    except ImportError as exc:
        raise RailSegError(f"the live probe needs rclpy and sensor_msgs ({exc})") from None
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("rail_seg_doctor", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    probes: List[_Probe] = []
    try:
        for index, case in enumerate(probe_cases(env)):
            probes.append(_Probe(node, case, frames, domain, f"/rail_seg_doctor_{os.getpid()}_{index}"))
        for probe in probes:
            probe.run()
        time.sleep(0.3)
        return [probe.result(node) for probe in probes]
    finally:
        for probe in probes:
            probe.stop()
        executor.shutdown()
        spinner.join(timeout=5.0)  # no callback may run while the node and the context go away
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def probe_findings(results: List[ProbeResult], env: Dict[str, str]) -> List[Finding]:
    """A failure where this shell's environment loses frames; the other cases are shown for comparison."""
    findings = []
    as_is = "with this shell's own DDS settings" if dds.profile_in_effect(env).source == "user" else \
        "without a profile"
    package = dds.package_profile(dds.without_profiles(env))
    for result in results:
        rate = f"{result.received}/{result.frames}"
        what = f"probe {result.case.reliability}, {result.case.label}"
        if result.error:
            findings.append(Finding(FAIL, what, result.error))
        elif result.received == result.frames:
            findings.append(Finding(OK, what, rate))
        elif result.case.label == as_is:
            fix = f"export {package.variable}={package.value} for the camera driver (the publisher's profile " \
                  f"decides)" if package.variable and result.case.reliability == BEST_EFFORT else \
                  "see the README, Large images across processes"
            findings.append(Finding(FAIL, what, f"{rate}: 1080p frames from another process are lost", fix))
        else:  # only what this shell's processes get decides the exit status
            findings.append(Finding(WARN, what, f"{rate} delivered"))
    return findings
