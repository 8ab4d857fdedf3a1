"""Every pretrained weight file smis uses: one entry each, with where it comes from and what needs it.

Files are kept where the ecosystem keeps them: torch hub's cache ($TORCH_HOME/hub/checkpoints/, the
folder torchvision and torch.hub download into), under the names their publishers gave them, so a
file another library already fetched is found and not downloaded twice. `smis-weights status`
lists them; `smis.weights.store` fetches and checks them.

Checksums: the full sha256 of each file whose bytes are pinned (the torchvision and FID files; the
8 hex digits in their names are torch.hub's short form of the same hash). The segmenters' authors
published no checksum and host the DRN file in a Google Drive folder (no direct URL): those entries
have `sha256=None` and are checked on load against their architecture (every key and shape).

Not in the registry: the authors' GroupDNet checkpoints. They are one tar in a Google Drive folder
(https://drive.google.com/open?id=1og_9By_xdtnEd9-xawAj4jYbXR6A9deG, licence CC BY-NC-SA 4.0), with
no stable URL and no checksum; download it by hand and convert it with `smis-convert`.
"""

from __future__ import annotations

from dataclasses import dataclass

TORCHVISION = ("torchvision model zoo; no licence of its own stated for the weights (trained on "
               "ImageNet, whose terms apply)")


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file.

    name: the registry key (`smis-weights fetch NAME`).
    filename: its path under the torch hub cache's checkpoints/ folder (a mirror serves the same path).
    urls: direct download addresses, tried in order; empty when there is none (see `page`).
    sha256: the full hex digest of the published file; None where none is published.
    size: bytes, where known.
    licence: the licence (or terms) it is published under.
    needed_by: what in smis needs it, with the option that gives a path instead.
    page: where it is published, for files without a direct download or to read about them.
    package: the Python package that ships the file inside itself (then `filename` is relative to
      that package's folder and nothing is downloaded).
    instead: how to do without it, shown when it is missing.
    """

    name: str
    filename: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    licence: str
    needed_by: str
    page: str | None = None
    package: str | None = None
    instead: str | None = None

    @property
    def size_text(self) -> str:
        if not self.size:
            return "size not published"
        return f"{self.size / 2**20:.0f} MB" if self.size >= 2**20 else f"{self.size / 2**10:.0f} KB"


UPERNET_SITE = "http://sceneparsing.csail.mit.edu/model/pytorch/"
UPERNET_LICENCE = "BSD-3-Clause (CSAILVision/semantic-segmentation-pytorch)"


def _upernet(release: str, part: str, short: str) -> WeightFile:
    filename = f"{release}/{part}_epoch_50.pth"
    return WeightFile(f"upernet101-{short}-{part}", filename, (UPERNET_SITE + filename,), None, None,
                      UPERNET_LICENCE,
                      f"evaluate: miou on ade20k with UperNet-101 release {release} "
                      f"(or segmenters.ade20k.weights_dir=PATH)",
                      page="https://github.com/CSAILVision/semantic-segmentation-pytorch",
                      instead="leave miou out of metrics")


REGISTRY: dict[str, WeightFile] = {f.name: f for f in (
    WeightFile("vgg19", "vgg19-dcbb9e9d.pth", ("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",),
               "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", 574_673_361, TORCHVISION,
               "train: the perceptual loss, loss.vgg > 0 (or loss.vgg_weights=PATH)",
               instead="train without it: recipe=control (no VGG term; codes stay informative)"),
    WeightFile("inception", "weights-inception-2015-12-05-6726825d.pth",
               ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                "weights-inception-2015-12-05-6726825d.pth",
                # the same bytes under pytorch-fid's name
                "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth"),
               "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95_628_359,
               "Apache-2.0 (TensorFlow's Inception-v3 of 2015-12-05, ported by torch-fidelity / pytorch-fid)",
               "evaluate: fid (or fid.weights=PATH)", instead="leave fid out of metrics"),
    WeightFile("alexnet", "alexnet-owt-7be5be79.pth", ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",),
               "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244_408_911, TORCHVISION,
               "evaluate: lpips and mcsd, LPIPS's AlexNet trunk (or diversity.lpips_backbone=PATH)",
               instead="leave lpips and mcsd out of metrics"),
    WeightFile("lpips-alex-heads", "weights/v0.1/alex.pth", (),
               "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6_009,
               "BSD-2-Clause (the lpips package)", "evaluate: lpips and mcsd, LPIPS's linear layers (v0.1)",
               page="https://github.com/richzhang/PerceptualSimilarity", package="lpips"),
    WeightFile("drn-d-105-cityscapes", "drn-d-105_ms_cityscapes.pth", (), None, None,
               "BSD-3-Clause (fyu/drn)",
               "evaluate: miou on cityscapes, DRN-D-105 (or segmenters.cityscapes.weights=PATH)",
               page="http://go.yf.io/drn-cityscapes-models (a Google Drive folder; fyu/drn's README)",
               instead="leave miou out of metrics"),
    _upernet("ade20k-resnet101-upernet", "encoder", "ade20k"),
    _upernet("ade20k-resnet101-upernet", "decoder", "ade20k"),
    _upernet("baseline-resnet101-upernet", "encoder", "baseline"),
    _upernet("baseline-resnet101-upernet", "decoder", "baseline"),
)}


def entry(name: str) -> WeightFile:
    """A registry entry by name, with an error listing the names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no weight file named {name!r}; known: {', '.join(REGISTRY)}") from None


def upernet_names(release: str) -> tuple[str, str]:
    """The registry names of one UperNet release's encoder and decoder files."""
    found = [f.name for f in REGISTRY.values() if f.filename.startswith(f"{release}/")]
    if len(found) != 2:
        raise KeyError(f"no UperNet release {release!r} in the weight registry")
    return found[0], found[1]
