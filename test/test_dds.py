"""The DDS profiles (config/dds), their selection for the RMW in use, the no-input hint, and `rail-seg doctor`.

The profile selection and hint tests need no ROS. The doctor test runs its live probe on loopback in a
domain of its own: a child process publishes 1920x1080 rgb8 frames best effort and reliable.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ros_domain

from rail_seg_ros import dds
from rail_seg_ros.contract import BEST_EFFORT, RELIABLE
from rail_seg_ros.node_input import no_input_hint

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "config" / "dds"
DOCTOR_DOMAIN = ros_domain(74)
# Elements that would widen (or otherwise change) discovery: the profiles must not contain any.
DISCOVERY_TAGS = {"initialPeersList", "metatrafficMulticastLocatorList", "metatrafficUnicastLocatorList",
                  "builtin", "discovery_config", "interfaceWhiteList", "interfaces", "Peers", "Discovery",
                  "NetworkInterface", "General"}


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@pytest.mark.parametrize("name", [dds.FASTDDS_PROFILE, dds.FASTDDS_26_PROFILE])
def test_fastdds_profiles_give_a_large_shm_segment_and_udp_only(name):
    root = ET.parse(PROFILES / name).getroot()
    tags = {local(e.tag): e for e in root.iter()}
    descriptors = {local_text(d, "transport_id"): local_text(d, "type") for d in root.iter()
                   if local(d.tag) == "transport_descriptor"}
    assert sorted(descriptors.values()) == ["SHM", "UDPv4"]
    segment = [e for e in root.iter() if local(e.tag) == "segment_size"]
    assert [int(e.text) for e in segment] == [dds.SHM_SEGMENT_BYTES]
    assert dds.SHM_SEGMENT_BYTES >= 8 * 1920 * 1080 * 3  # several 1080p rgb8 frames
    used = [e.text for e in root.iter() if local(e.tag) == "transport_id" and local_parent(root, e) == "userTransports"]
    assert sorted(used) == sorted(descriptors)
    assert tags["useBuiltinTransports"].text == "false"
    assert not DISCOVERY_TAGS & set(tags), DISCOVERY_TAGS & set(tags)
    participant = tags["participant"]
    assert participant.get("is_default_profile") == "true"


def local_text(element, tag: str) -> str:
    return next(e.text for e in element.iter() if local(e.tag) == tag)


def local_parent(root, child) -> str:
    return next(local(p.tag) for p in root.iter() if child in list(p))


def test_cyclone_profile_sets_the_receive_buffer_only():
    root = ET.parse(PROFILES / dds.CYCLONE_PROFILE).getroot()
    tags = {local(e.tag): e for e in root.iter()}
    assert tags["SocketReceiveBufferSize"].get("min") == "10MB"
    assert not DISCOVERY_TAGS & set(tags)


def test_setup_installs_the_profiles():
    assert '"/config/dds", files("config/dds/*.xml")' in (REPO / "setup.py").read_text()


def kilted(monkeypatch):
    monkeypatch.setattr(dds, "fastdds_version", lambda env=None: ((3, 2, 3), "test"))


def test_the_package_profile_is_applied_when_the_user_set_none(monkeypatch, tmp_path):
    kilted(monkeypatch)
    env = {"ROS_DOMAIN_ID": "5"}
    profile = dds.apply_profile(env, cwd=tmp_path)
    assert profile.source == "package" and profile.variable == dds.FASTDDS_PROFILES_VAR
    assert Path(env[dds.FASTDDS_PROFILES_VAR]).name == dds.FASTDDS_PROFILE
    assert Path(env[dds.FASTDDS_PROFILES_VAR]).is_file()
    # a child started from this environment (a launched node) sees the package's profile, not a user's
    child = dds.profile_in_effect(dict(env), cwd=tmp_path)
    assert child.source == "package" and child.value == env[dds.FASTDDS_PROFILES_VAR]
    assert dds.apply_profile(env, cwd=tmp_path).source == "package"


def test_humble_gets_the_2_6_profile_under_the_fastrtps_name(monkeypatch, tmp_path):
    monkeypatch.setattr(dds, "fastdds_version", lambda env=None: ((2, 6, 9), "test"))
    env = {}
    dds.apply_profile(env, cwd=tmp_path)
    assert list(env) == [dds.FASTRTPS_PROFILES_VAR, dds.APPLIED_MARK]
    assert Path(env[dds.FASTRTPS_PROFILES_VAR]).name == dds.FASTDDS_26_PROFILE


def test_jazzy_reads_the_fastrtps_name(monkeypatch, tmp_path):
    monkeypatch.setattr(dds, "fastdds_version", lambda env=None: ((2, 14, 4), "test"))
    env = {}
    dds.apply_profile(env, cwd=tmp_path)
    assert Path(env[dds.FASTRTPS_PROFILES_VAR]).name == dds.FASTDDS_PROFILE


@pytest.mark.parametrize("variable", ["FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE",
                                      "FASTDDS_BUILTIN_TRANSPORTS", "CYCLONEDDS_URI"])
def test_a_user_setting_always_wins(monkeypatch, tmp_path, variable):
    kilted(monkeypatch)
    env = {variable: "/home/me/mine.xml"}
    profile = dds.apply_profile(env, cwd=tmp_path)
    assert env == {variable: "/home/me/mine.xml"}
    assert profile.source == "user" and "/home/me/mine.xml" in profile.note


def test_a_profile_file_in_the_working_directory_wins(monkeypatch, tmp_path):
    kilted(monkeypatch)
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
    env = {}
    assert dds.apply_profile(env, cwd=tmp_path).source == "user" and env == {}


def test_cyclone_and_other_rmws(tmp_path):
    env = {"RMW_IMPLEMENTATION": dds.RMW_CYCLONEDDS}
    profile = dds.apply_profile(env, cwd=tmp_path)
    assert profile.variable == dds.CYCLONE_VAR and env[dds.CYCLONE_VAR].startswith("file://")
    assert env[dds.CYCLONE_VAR].endswith("/" + dds.CYCLONE_PROFILE)
    env = {"RMW_IMPLEMENTATION": "rmw_zenoh_cpp"}
    profile = dds.apply_profile(env, cwd=tmp_path)
    assert not profile.in_effect and env == {"RMW_IMPLEMENTATION": "rmw_zenoh_cpp"}
    assert "rmw_zenoh_cpp" in profile.note


def test_without_and_with_the_package_profile(monkeypatch):
    kilted(monkeypatch)
    env = {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA", "CYCLONEDDS_URI": "x", "PATH": "/bin"}
    assert dds.without_profiles(env) == {"PATH": "/bin"}
    with_profile = dds.with_package_profile(env)
    assert set(with_profile) == {"PATH", dds.FASTDDS_PROFILES_VAR, dds.APPLIED_MARK}


def test_the_no_input_hint_names_cause_and_fix(monkeypatch):
    none = dds.Profile("", "", "none", "no profile")
    assert no_input_hint("/cam/image_raw", 3.0, 0, BEST_EFFORT, BEST_EFFORT, 0, none) == ""
    hint = no_input_hint("/cam/image_raw", 3.0, 1, BEST_EFFORT, BEST_EFFORT, 4, none)
    assert "/cam/image_raw" in hint and "1 publisher" in hint and "4 frame(s) reported lost" in hint
    assert "shared-memory segment" in hint and "PROFILES_FILE=" in hint and "rail-seg doctor" in hint
    mismatch = no_input_hint("/cam/image_raw", 3.0, 2, BEST_EFFORT, RELIABLE, 0, none)
    assert "input_qos.reliability: best_effort" in mismatch
    assert "\n" not in hint + mismatch


@pytest.fixture
def loopback_env():
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
               ROS_DOMAIN_ID=str(DOCTOR_DOMAIN))
    return dds.without_profiles(env)


def test_doctor_reports_delivery_with_and_without_the_profile(loopback_env):
    pytest.importorskip("rclpy")
    run = subprocess.run([sys.executable, "-m", "rail_seg_ros.cli", "doctor", "--frames", "5",
                          "--domain", str(DOCTOR_DOMAIN)], env=loopback_env, capture_output=True, text=True,
                         timeout=240)
    out = run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    assert "[ok  ] RMW: rmw_fastrtps_cpp" in out
    assert "DDS profile: none exported" in out and "fix: export it system-wide" in out
    assert "/dev/shm" in out and "net.core.rmem_max" in out and "net.ipv4.ipfrag_time" in out
    assert "discovery: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST" in out
    # the shipped profile on the publisher delivers every best-effort 1080p frame
    assert "[ok  ] probe best_effort, with the package's profile: 5/5" in out, out
    assert "[ok  ] probe reliable, with the package's profile: 5/5" in out, out
    without = next(line for line in out.splitlines() if "probe best_effort, without a profile" in line)
    if "5/5" not in without:  # this host loses them (as here): a failure that says the fix, and exit 1
        assert without.startswith("[FAIL]") and run.returncode == 1
        assert f"fix: export {dds.FASTDDS_PROFILES_VAR}=" in out
    else:
        assert run.returncode in (0, 1)


def test_doctor_refuses_bad_options(loopback_env):
    for args, words in ((["--frames", "0"], "--frames 0"), (["--domain", "400"], "--domain 400")):
        run = subprocess.run([sys.executable, "-m", "rail_seg_ros.cli", "doctor"] + args, env=loopback_env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr
        assert run.stdout == ""  # refused before any check ran


def test_doctor_passes_with_the_profile_exported(loopback_env):
    pytest.importorskip("rclpy")
    env = dict(loopback_env, **{dds.FASTDDS_PROFILES_VAR: str(PROFILES / dds.FASTDDS_PROFILE)})
    run = subprocess.run([sys.executable, "-m", "rail_seg_ros.cli", "doctor", "--frames", "5",
                          "--domain", str(DOCTOR_DOMAIN)], env=env, capture_output=True, text=True, timeout=240)
    assert "[ok  ] DDS profile: the user's FASTDDS_DEFAULT_PROFILES_FILE=" in run.stdout
    assert "[ok  ] probe best_effort, with this shell's own DDS settings: 5/5" in run.stdout, run.stdout
    assert "[FAIL] probe" not in run.stdout, run.stdout
    # a host check may still fail elsewhere (a small /dev/shm in a container); here that is the only reason for 1
    assert run.returncode == (1 if "[FAIL]" in run.stdout else 0), run.stdout + run.stderr
