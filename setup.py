"""ament_python package that also installs with pip on machines without ROS."""

from glob import glob

from setuptools import Extension, find_packages, setup

PACKAGE = "rail_seg_ros"


# The sparse head's inner loop in C (rail_seg_ros/head.py): optional, so a machine without a compiler or
# Python headers still installs and runs the numpy fallback. No FMA contraction: the loop must round like
# numpy's float32 arithmetic, on x86 and on the Jetson's aarch64 alike.
SPARSE_HEAD = Extension(PACKAGE + "._sparse_head", ["rail_seg_ros/_sparse_head.c"], optional=True,
                        extra_compile_args=["-O3", "-ffp-contract=off", "-pthread"], extra_link_args=["-pthread"])


def files(pattern):
    return sorted(p for p in glob(pattern) if not p.endswith("~"))


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, PACKAGE + ".*"]),
    ext_modules=[SPARSE_HEAD],
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", files("launch/*.py")),
        ("share/" + PACKAGE + "/config", files("config/*.yaml") + files("config/*.rviz")),
        ("share/" + PACKAGE + "/config/models", files("config/models/*.yaml")),
        ("share/" + PACKAGE + "/config/dds", files("config/dds/*.xml")),
        ("share/" + PACKAGE + "/models", files("models/*.onnx") + files("models/*.pt") + files("models/*.md")),
        ("share/" + PACKAGE + "/bags", files("bags/*.md")),
    ] + [("share/" + PACKAGE + "/" + bag, files(bag + "/*")) for bag in (b.rstrip("/") for b in files("bags/*/"))],
    # rosbags (the bag tools) needs Python 3.10+; the node and the core run on the Jetson's 3.8 without it
    install_requires=["numpy", "pyyaml", "opencv-python-headless", "rosbags; python_version >= '3.10'", "tqdm",
                      "matplotlib"],
    extras_require={
        # torch is pinned: a bare requirement pulls a multi-GB CUDA build on x86.
        "torch": ["torch==2.13.0", "torchvision==0.28.0"],
        "onnx": ["onnxruntime", "onnx", "onnxscript"],
        "dev": ["pytest", "ruff", "vermin", "mcap", "mcap-ros2-support"],
    },
    python_requires=">=3.8",
    zip_safe=False,  # the compiled sparse head is a shared library
    maintainer="rail_seg_ros maintainers",
    maintainer_email="rail-seg@example.com",
    description="Semantic segmentation for rail vehicle cameras in ROS 2",
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "rail-seg = rail_seg_ros.cli:main",
            "segmentation_node = rail_seg_ros.node:main",
        ],
    },
)
