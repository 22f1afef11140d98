"""bench.record and ``rail-seg record``: a running node's outputs into a bag, and a clear error when there is
no node; the live bench on a running node (domains 54, 55)."""

import signal
import subprocess
import sys
import time

from conftest import read_report, run_cli, stop_process

from rail_seg_ros import bag, bench
from rail_seg_ros.contract import INPUT_IMAGE, OUTPUT_LABELS, join_name, output_topics


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_running_node_and_the_record_command(frames_bag, small_card, tmp_path, dds, live_args):
    env = dds(54)
    path, frames = frames_bag
    namespace = "/bench_test"
    node = subprocess.Popen(
        [sys.executable, "-m", "rail_seg_ros.node", "--ros-args", "-r", f"__ns:={namespace}",
         "-p", f"model:={small_card}", "-p", "backend:=torch", "-p", "device:=cpu", "-p", "warmup_frames:=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rec = tmp_path / "recorded"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "rail_seg_ros.cli", "record", "--namespace", namespace, "--topics", OUTPUT_LABELS,
         "--out", str(rec), "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    labels_topic = output_topics(namespace)[OUTPUT_LABELS]
    session = bench.RosSession("bench_test_probe")
    try:
        assert _wait_for(lambda: session.node.count_subscribers(labels_topic) >= 1
                         and session.node.count_publishers(labels_topic) >= 1, 60)
        out = tmp_path / "report"
        assert run_cli(*live_args(path, small_card, out, "--use-running-node", "--node-namespace", namespace,
                                  "--rate", "0.5", "--warmup", "1")) == 0
        report = read_report(out)
        assert report["node_started_by_bench"] is False and report["node_exit_code"] is None
        assert report["input_topic"] == join_name(namespace, INPUT_IMAGE) and report["output_topic"] == labels_topic
        assert report["received"] == report["sent"] == len(frames) and report["unmatched"] == 0
        assert node.poll() is None  # the bench leaves a running node alone
    finally:
        session.close()
        recorder.send_signal(signal.SIGINT)
        try:
            stdout, stderr = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # fail naming it, and leave no recorder behind
            recorder.kill()
            stdout, stderr = recorder.communicate()
            stderr = "the recorder did not stop on Ctrl-C within 60 s:\n" + stderr
        stop_process(node, timeout=30)
    assert recorder.returncode == 0, stderr
    assert "recorded" in stdout
    with bag.open_bag(rec) as recorded:
        count = recorded.message_count(labels_topic)
    assert len(frames) + 1 <= count <= len(frames) + 3  # the measured frames and the warm-up frame(s)


def test_record_without_a_node_names_what_it_waited_for(tmp_path, dds, capsys):
    dds(55)
    out = tmp_path / "rec"
    assert run_cli("record", "--namespace", "/nobody", "--wait", "1", "--out", out, "--no-progress") == 2
    err = capsys.readouterr().err
    assert f"no publisher on {output_topics('/nobody')[OUTPUT_LABELS]}" in err
    assert not out.exists()
