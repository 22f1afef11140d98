"""Where the package's data files are: model cards, weights, the sample bags, config files (and the DDS
profiles to come). One lookup for every caller, in one order: the ROS share dir (a colcon install), the
pip data_files prefix (``sys.prefix/share/rail_seg_ros``), then the source tree (a checkout or an
editable install). No heavy imports: light commands use it."""

import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PACKAGE = "rail_seg_ros"

# kind of data -> its folder under a share dir (setup.py's data_files install them there)
DATA_FOLDERS: Dict[str, Tuple[str, ...]] = {
    "cards": ("config", "models"),
    "models": ("models",),
    "bags": ("bags",),
    "config": ("config",),
    "dds_profiles": ("config", "dds"),
}


def share_dirs() -> List[Path]:
    """The package's share dirs that exist, first found first: ament share, sys.prefix/share, source tree."""
    dirs: List[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # not a ROS install, or the package is not in the ament index
        pass
    dirs.append(Path(sys.prefix) / "share" / PACKAGE)
    dirs.append(Path(__file__).resolve().parent.parent)  # source checkout / editable install
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def data_dirs(kind: str) -> List[Path]:
    """The folders holding data of ``kind`` (a key of DATA_FOLDERS), in lookup order."""
    if kind not in DATA_FOLDERS:
        raise KeyError(f"unknown kind of package data {kind!r}; known: {', '.join(DATA_FOLDERS)}")
    folders = [share.joinpath(*DATA_FOLDERS[kind]) for share in share_dirs()]
    return [folder for folder in folders if folder.is_dir()]


def find_data(kind: str, name: str) -> Optional[Path]:
    """The first file or folder ``name`` among the data of ``kind``; None when no share dir has it."""
    for folder in data_dirs(kind):
        candidate = folder / name
        if candidate.exists():
            return candidate
    return None

