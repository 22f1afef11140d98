"""Check this host for what loses camera frames between ROS 2 processes, and say what to fix.

Static checks: the RMW implementation and its DDS version, the DDS profile in effect (what a camera
driver started from this shell gets), /dev/shm, the socket-buffer and IP-fragment sysctls, the discovery
range. Then a live probe on loopback (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, in --domain): a child
process publishes --frames 1920x1080 rgb8 frames best effort and reliable, without and with the
package's DDS profile, and the delivery rate of each is shown (about 5 s per case with the default 20).

Exit status: 0 when nothing would lose frames, 1 when something would (each such line says the fix),
2 on a bad option.
"""

import argparse
import os

from .. import doctor

MARKS = {doctor.OK: "ok  ", doctor.WARN: "warn", doctor.FAIL: "FAIL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=20,
                        help="1080p frames the probe publishes per case (default 20; 4 cases)")
    parser.add_argument("--domain", type=int, default=None,
                        help="ROS domain of the probe (default: ROS_DOMAIN_ID, else 0); it stays on loopback")
    parser.add_argument("--no-probe", action="store_true", help="only the static checks, no live probe")


def _print(finding: doctor.Finding) -> None:
    print(f"[{MARKS[finding.level]}] {finding.what}: {finding.detail}", flush=True)
    if finding.fix:
        print(f"       fix: {finding.fix}", flush=True)


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)  # before the probe forces loopback on this process
    domain = args.domain if args.domain is not None else int(env.get("ROS_DOMAIN_ID", "0") or 0)
    if not args.no_probe:
        doctor.check_probe_options(args.frames, domain)
    findings = doctor.static_checks(env)
    for finding in findings:
        _print(finding)
    if not args.no_probe:
        print(f"live probe: {args.frames} frames of 1920x1080 rgb8 per case, domain {domain}, loopback", flush=True)
        results = doctor.live_probe(env, args.frames, domain)
        probe = doctor.probe_findings(results, env)
        for finding in probe:
            _print(finding)
        findings += probe
    failed = [f for f in findings if f.level == doctor.FAIL]
    print(f"{len(failed)} problem(s) that lose frames" if failed else "nothing found that loses frames")
    return 1 if failed else 0
