"""--init: the classifier re-initialised only where the class count differs or asked."""

import pytest
import torch

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.nets import build_model
from rail_seg_ros.train.weight_init import init_weights


def test_init_from_other_class_count_reinitialises_only_the_classifier(tmp_path):
    torch.manual_seed(1)
    other = build_model("squeezenas_mac_small", num_classes=7).state_dict()
    path = tmp_path / "seven.pt"
    torch.save({"model_state_dict": other, "epoch": 3}, str(path))
    model = build_model("squeezenas_mac_small", 19)
    report = init_weights(model, str(path), "squeezenas_mac_small")
    assert report.reinitialised == ["decoder._1x1_BR", "decoder._1x1_TR"]
    own = model.state_dict()
    heads = [k for k in own if k.startswith(("decoder._1x1_BR.", "decoder._1x1_TR."))]
    assert report.loaded == len(own) - len(heads)
    assert all(torch.equal(own[k], other[k]) for k in own if k not in heads)
    assert all(own[k].shape[0] == 19 for k in heads)

    fast = build_model("fast_scnn", 7)
    fast_path = tmp_path / "fast.pt"
    torch.save(fast.state_dict(), str(fast_path))
    report = init_weights(build_model("fast_scnn", 19, aux=True), str(fast_path), "fast_scnn")
    assert (report.reinitialised, report.fresh) == (["classifier.conv.1"], ["auxlayer.0", "auxlayer.1", "auxlayer.4"])

    with pytest.raises(RailSegError, match="does not fit squeezenas_mac_small") as err:
        init_weights(build_model("squeezenas_mac_small", 19), str(fast_path), "squeezenas_mac_small")
    assert "\n" not in str(err.value)


def test_same_class_count_keeps_the_classifier_unless_asked(tmp_path):
    torch.manual_seed(2)
    source = build_model("squeezenas_mac_small", 19).state_dict()
    path = tmp_path / "cs.pt"
    torch.save(source, str(path))
    kept = build_model("squeezenas_mac_small", 19)
    assert init_weights(kept, str(path), "squeezenas_mac_small").reinitialised == []
    assert torch.equal(kept.state_dict()["decoder._1x1_TR.weight"], source["decoder._1x1_TR.weight"])
    fresh = build_model("squeezenas_mac_small", 19)
    report = init_weights(fresh, str(path), "squeezenas_mac_small", reinit_classifier=True)
    assert report.reinitialised == ["decoder._1x1_BR", "decoder._1x1_TR"]
    assert not torch.equal(fresh.state_dict()["decoder._1x1_TR.weight"], source["decoder._1x1_TR.weight"])
