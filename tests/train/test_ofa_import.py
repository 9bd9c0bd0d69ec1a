"""``nas-import-ofa``: an OFA file becomes an ordinary, finished supernet run directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from lamoo_nas.commands.import_ofa import _task, checkpoint_argument
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.rundir import MANIFEST_NAME, RunDirExistsError
from lamoo_nas.supernet import ArchConfig
from lamoo_nas.supernet.errors import DatasetError, OFACheckpointError, OFAUnsupportedNetworkError
from lamoo_nas.supernet.ofa import ofa_subnet_settings
from lamoo_nas.train.checkpoint import FINAL_NAME, load_supernet, read_checkpoint
from lamoo_nas.train.ofa_import import import_ofa
from tests.imagenet_layout import write_imagenet_layout
from tests.supernet.ofa_helpers import OFA_NAMES, ofa_mbv3, save_published

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ofa_w12(tmp_path_factory: pytest.TempPathFactory):
    net = ofa_mbv3(1.2, 5, seed=2)
    return net, save_published(net, tmp_path_factory.mktemp("ofa") / OFA_NAMES[1.2])


def test_import_writes_a_finished_run_that_loads_and_computes_what_ofa_does(
    ofa_w12, tmp_path: Path
) -> None:
    net, path = ofa_w12
    run = import_ofa(path, tmp_path / "run", DataConfig(name="imagefolder"), {"checkpoint": "x"})
    assert (run.variant, run.space.name, run.num_classes) == (OFA_NAMES[1.2], "ofa_mbv3_w12", 5)
    manifest = json.loads((tmp_path / "run" / MANIFEST_NAME).read_text())
    assert manifest["kind"] == "supernet" and manifest["status"] == "finished"
    assert manifest["fingerprints"]["space"] == run.space.fingerprint
    assert manifest["config"]["imported_from"]["sha256"] == run.sha256
    ckpt = read_checkpoint(tmp_path / "run" / FINAL_NAME)
    assert ckpt["model_options"] == {"kernel_transform": True} and ckpt["epoch"] == 0
    assert ckpt["imported_from"]["variant"] == OFA_NAMES[1.2]
    loaded = load_supernet(tmp_path / "run")
    assert loaded.data_config == DataConfig(name="imagefolder")
    middle = loaded.space.sample(np.random.default_rng(1))  # as training draws its middle arch
    assert loaded.space.arch_from_json(ckpt["middle_arch"]) == middle
    arch = ArchConfig(140, loaded.space.sample(np.random.default_rng(0)).stages)
    net.set_active_subnet(**ofa_subnet_settings(loaded.space, arch))
    x = torch.randn(1, 3, 140, 140)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, arch), net(x), atol=1e-5, rtol=0)
    with pytest.raises(RunDirExistsError, match="never replaces"):
        import_ofa(path, tmp_path / "run", DataConfig(name="imagefolder"))
    assert (
        read_checkpoint(tmp_path / "run" / FINAL_NAME)["space_fingerprint"]
        == ckpt["space_fingerprint"]
    )


def test_truncated_missing_and_misnamed_files_are_refused(ofa_w12, tmp_path: Path) -> None:
    _, path = ofa_w12
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[:200_000])
    data = DataConfig(name="imagefolder")
    with pytest.raises(OFACheckpointError, match=r"cut\.pth is corrupt or truncated"):
        import_ofa(cut, tmp_path / "a", data)
    with pytest.raises(OFACheckpointError, match=r"no file at .*absent\.pth"):
        import_ofa(tmp_path / "absent.pth", tmp_path / "a", data)
    renamed = tmp_path / "ofa_mbv3_d234_e346_k357_w1.0"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(OFAUnsupportedNetworkError, match=r"named for .*w1\.0.*look like .*w1\.2"):
        import_ofa(renamed, tmp_path / "a", data)
    pickled = tmp_path / "pickled.pth"
    torch.save({"state_dict": {}, "net": torch.nn.Linear(2, 2)}, pickled)
    with pytest.raises(OFACheckpointError, match="pickled objects beyond tensors"):
        import_ofa(pickled, tmp_path / "a", data)
    assert not (tmp_path / "a").exists()  # nothing was written for a refused file


def test_a_data_folder_of_another_class_count_is_refused(ofa_w12, tmp_path: Path) -> None:
    _, path = ofa_w12
    root = write_imagenet_layout(tmp_path / "folder", num_classes=3, train_per_class=2)
    with pytest.raises(DatasetError, match=r"3 class folders .* 5 outputs.*init_from="):
        import_ofa(path, tmp_path / "run", DataConfig(name="imagefolder", root=str(root)))


def test_command_takes_the_checkpoint_as_first_argument(ofa_w12, tmp_path: Path) -> None:
    _, path = ofa_w12
    assert checkpoint_argument([str(path), "run_dir=x"]) == [f"checkpoint={path}", "run_dir=x"]
    assert checkpoint_argument(["checkpoint=a", "b=c"]) == ["checkpoint=a", "b=c"]
    assert checkpoint_argument(["--help"]) == ["--help"]
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose("import_ofa", [f"checkpoint={path}", f"run_dir={tmp_path / 'run'}",
                                     "data.root=/data/imagenet"])  # fmt: skip
    _task(cfg)
    loaded = load_supernet(tmp_path / "run")
    assert loaded.data_config.root == "/data/imagenet" and loaded.space.name == "ofa_mbv3_w12"


def test_console_error_is_one_line_and_names_the_network(tmp_path: Path) -> None:
    from ofa.imagenet_classification.elastic_nn.networks import OFAProxylessNASNets

    proxyless = OFAProxylessNASNets(n_classes=4, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
                                    depth_list=[2, 3, 4], width_mult=1.3)  # fmt: skip
    path = save_published(proxyless, tmp_path / "ofa_proxyless_d234_e346_k357_w1.3")
    done = subprocess.run(
        [sys.executable, "-m", "lamoo_nas.commands.import_ofa", str(path),
         f"run_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error:") and done.stderr.count("\n") == 1
    assert "ProxylessNAS" in done.stderr and "ofa_mbv3_d234_e346_k357_w1.0" in done.stderr
    assert not (tmp_path / "run").exists()
