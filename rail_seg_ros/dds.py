"""The DDS profile a process needs for camera-sized images, picked for the RMW in use (no ROS import).

Fast DDS's shared-memory segment is 512 KiB by default; a larger sample (a 1920x1080 rgb8 frame is 6.2 MB)
falls back to fragmented UDP, where best-effort fragments are lost. The *publishing* process's segment
decides, so the node applies the package's profile to its own process (its 1080p colour and overlay reach
best-effort viewers) and the launch files give it to everything they start (a camera driver included).

A user's own DDS configuration always wins: any of :data:`USER_VARIABLES` set, a ``FASTDDS_*`` variable,
or a ``DEFAULT_FASTRTPS_PROFILES.xml`` / ``DEFAULT_FASTDDS_PROFILES.xml`` in the working directory (Fast DDS
loads those by itself). The profiles replace transports only; discovery is left as the user set it.
"""
# The Jetson target runs Python 3.8: typing.Dict/List/Optional on purpose.

import os
import re
from pathlib import Path
from typing import Dict, MutableMapping, NamedTuple, Optional, Tuple

from .resources import find_data

FASTRTPS_PROFILES_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2.x (Humble, Jazzy); deprecated in 3.x
FASTDDS_PROFILES_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"  # Fast DDS 3.x (Kilted)
CYCLONE_VAR = "CYCLONEDDS_URI"
USER_VARIABLES: Tuple[str, ...] = (FASTRTPS_PROFILES_VAR, FASTDDS_PROFILES_VAR, CYCLONE_VAR)
FASTDDS_PREFIX = "FASTDDS_"  # FASTDDS_BUILTIN_TRANSPORTS and the like: the user configured Fast DDS
WORKDIR_PROFILES: Tuple[str, ...] = ("DEFAULT_FASTRTPS_PROFILES.xml", "DEFAULT_FASTDDS_PROFILES.xml")
# Set in a process that got the package's profile, so a child (a launched node) knows it is ours, not the user's.
APPLIED_MARK = "RAIL_SEG_DDS_PROFILE"

RMW_FASTRTPS = "rmw_fastrtps_cpp"
RMW_FASTRTPS_DYNAMIC = "rmw_fastrtps_dynamic_cpp"
RMW_CYCLONEDDS = "rmw_cyclonedds_cpp"
DEFAULT_RMW = RMW_FASTRTPS  # every ROS 2 distribution since Galactic's successor

FASTDDS_26_PROFILE = "fastdds_2.6.xml"
FASTDDS_PROFILE = "fastdds.xml"
CYCLONE_PROFILE = "cyclonedds.xml"
SHM_SEGMENT_BYTES = 64 * 1024 * 1024  # what the Fast DDS profiles ask for (a test keeps the files in step)
# Fast DDS major.minor of each distribution, used when the library's own version cannot be found.
DISTRO_FASTDDS: Dict[str, Tuple[int, int]] = {"humble": (2, 6), "iron": (2, 10), "jazzy": (2, 14),
                                              "kilted": (3, 2), "rolling": (3, 2)}


class Profile(NamedTuple):
    """What configures DDS in a process: ``variable`` = ``value``; ``source`` says whose it is."""

    variable: str  # empty when no profile applies (another RMW)
    value: str
    source: str  # "package", "user" or "none"
    note: str  # one line for the log and the doctor

    @property
    def in_effect(self) -> bool:
        return self.source != "none"


def rmw_implementation(env: Optional[MutableMapping[str, str]] = None) -> str:
    """The RMW the process will load: RMW_IMPLEMENTATION, else the ROS 2 default (Fast DDS)."""
    env = os.environ if env is None else env
    return env.get("RMW_IMPLEMENTATION", "").strip() or DEFAULT_RMW


def is_fastdds(rmw: str) -> bool:
    return rmw in (RMW_FASTRTPS, RMW_FASTRTPS_DYNAMIC)


def _version_of(text: str) -> Optional[Tuple[int, ...]]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def fastdds_version(env: Optional[MutableMapping[str, str]] = None) -> Tuple[Optional[Tuple[int, ...]], str]:
    """Fast DDS's version and where it was read: the ROS wheel, a library in the ament prefixes, ROS_DISTRO."""
    env = os.environ if env is None else env
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return _version_of(version("ros-fastdds")), "the ros-fastdds wheel"
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover - Python 3.8 has importlib.metadata
        pass
    for prefix in filter(None, env.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        for library in sorted(Path(prefix, "lib").glob("lib*.so.*")):
            if re.match(r"lib(fastdds|fastrtps)\.so\.\d+\.\d+\.\d+$", library.name):
                return _version_of(library.name.split(".so.", 1)[1]), str(library)
    distro = env.get("ROS_DISTRO", "").strip().lower()
    if distro in DISTRO_FASTDDS:
        return DISTRO_FASTDDS[distro], f"ROS_DISTRO={distro}"
    return None, "not found"


def _profile_file(name: str) -> Optional[Path]:
    found = find_data("dds_profiles", name)
    return found if found is not None and found.is_file() else None


def user_configuration(env: Optional[MutableMapping[str, str]] = None, cwd: Optional[Path] = None) -> Optional[str]:
    """What the user set to configure DDS themselves ('FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA'), or None."""
    env = os.environ if env is None else env
    if env.get(APPLIED_MARK):  # inherited from a parent that applied the package's profile: not the user's
        return None
    for name in USER_VARIABLES:
        if env.get(name):
            return f"{name}={env[name]}"
    for name in sorted(env):
        if name.startswith(FASTDDS_PREFIX) and env[name]:
            return f"{name}={env[name]}"
    folder = Path.cwd() if cwd is None else cwd
    for name in WORKDIR_PROFILES:
        if (folder / name).is_file():
            return f"{folder / name} (Fast DDS loads it from the working directory)"
    return None


def package_profile(env: Optional[MutableMapping[str, str]] = None) -> Profile:
    """The package's profile for the RMW in ``env`` (not looking at what the user set)."""
    env = os.environ if env is None else env
    rmw = rmw_implementation(env)
    if rmw == RMW_CYCLONEDDS:
        path = _profile_file(CYCLONE_PROFILE)
        if path is None:
            return Profile("", "", "none", f"{CYCLONE_PROFILE} not found beside the package")
        return Profile(CYCLONE_VAR, path.resolve().as_uri(), "package", f"{rmw}: the package's {path}")
    if not is_fastdds(rmw):
        return Profile("", "", "none", f"{rmw}: no profile shipped for this RMW; large best-effort images "
                                       f"may not arrive (see the README, Large images across processes)")
    version, _ = fastdds_version(env)
    legacy = version is not None and version < (2, 7)
    path = _profile_file(FASTDDS_26_PROFILE if legacy else FASTDDS_PROFILE)
    if path is None:
        return Profile("", "", "none", "the package's Fast DDS profiles were not found (config/dds)")
    variable = FASTDDS_PROFILES_VAR if version is None or version >= (3, 0) else FASTRTPS_PROFILES_VAR
    shown = ".".join(str(v) for v in version) if version else "3.x (assumed)"
    return Profile(variable, str(path.resolve()), "package",
                   f"{rmw} (Fast DDS {shown}): the package's {path} via {variable}")


def profile_in_effect(env: Optional[MutableMapping[str, str]] = None, cwd: Optional[Path] = None) -> Profile:
    """What configures DDS in a process started from ``env``: the user's own, the package's (applied), or none."""
    env = os.environ if env is None else env
    own = env.get(APPLIED_MARK)
    if own and env.get(own):
        return Profile(own, env[own], "package", f"{rmw_implementation(env)}: the package's {env[own]} via {own}")
    user = user_configuration(env, cwd)
    if user is not None:
        name, _, value = user.partition("=")
        return Profile(name if value else "", value or user, "user", f"the user's {user}")
    return Profile("", "", "none", f"{rmw_implementation(env)}: no DDS profile (Fast DDS's 512 KiB shared-memory "
                                   f"segment: larger best-effort images from this process are lost)")


def apply_profile(env: Optional[MutableMapping[str, str]] = None, cwd: Optional[Path] = None) -> Profile:
    """Set the package's profile in ``env`` (os.environ) unless the user configured DDS; before rclpy.init.

    Fast DDS reads the profile once per process, when its first participant is created: call this first.

    Returns the profile in effect afterwards. Children started from ``env`` inherit it, marked as ours.
    """
    env = os.environ if env is None else env
    profile = profile_in_effect(env, cwd)
    if profile.source != "none":
        return profile
    package = package_profile(env)
    if not package.variable:
        return package
    env[package.variable] = package.value
    env[APPLIED_MARK] = package.variable
    return package


def without_profiles(env: MutableMapping[str, str]) -> Dict[str, str]:
    """A copy of ``env`` with every DDS profile variable removed (the doctor's 'without' case)."""
    return {k: v for k, v in env.items()
            if k not in USER_VARIABLES + (APPLIED_MARK,) and not k.startswith(FASTDDS_PREFIX)}


def with_package_profile(env: MutableMapping[str, str]) -> Dict[str, str]:
    """A copy of ``env`` with only the package's profile for its RMW (the doctor's 'with' case)."""
    result = without_profiles(env)
    profile = package_profile(result)
    if profile.variable:
        result[profile.variable] = profile.value
        result[APPLIED_MARK] = profile.variable
    return result


def launch_environment(env: Optional[MutableMapping[str, str]] = None) -> Dict[str, str]:
    """The variables a launch file sets for everything it starts: the package's profile, unless one is in effect."""
    env = os.environ if env is None else env
    if profile_in_effect(env).source != "none":
        return {}
    profile = package_profile(env)
    return {profile.variable: profile.value, APPLIED_MARK: profile.variable} if profile.variable else {}
