"""The built-in datasets as specs (see `spec.py` for what a spec holds): their class names and
palettes, label-file rules, evaluated ids, model presets and native sizes, as plain data. Adding a
dataset: one spec here, one Dataset class, one config file in `configs/dataset/`.

Class tables: Sources (transcribed by hand, then cross-checked against a second copy):
  Cityscapes  mcordts/cityscapesScripts  cityscapesscripts/helpers/labels.py  (name and color per labelId;
              same table as torchvision.datasets.Cityscapes.classes)
  ADE20K      CSAILVision/sceneparsing  objectInfo150.txt  (names; first synonym of each row)
              open-mmlab/mmsegmentation  mmseg/datasets/ade.py  (PALETTE, the text form of the
              CSAIL color150.mat; identical to facebookresearch/Mask2Former's ADE20K_150_CATEGORIES)
  DeepFashion Seanseattle/SMIS  data/deepfashion_dataset.py (label_nc=8, cihp_*_mask) and the SMIS paper,
              Appendix B (the eight category names); see the comment above DEEPFASHION_CLASSES
              for what is inferred.
"""

from __future__ import annotations

from .spec import DatasetSpec, LabelRule

ClassTable = dict   # {"names": (name, ...), "palette": ((r, g, b), ...)}: DatasetSpec's keyword arguments


def _table(rows: list[tuple[str, tuple[int, int, int]]]) -> ClassTable:
    """[(name, (r, g, b)), ...] -> {"names": ..., "palette": ...}."""
    return {"names": tuple(name for name, _ in rows), "palette": tuple(rgb for _, rgb in rows)}


# Cityscapes, indexed by labelId (the values of gtFine *_labelIds.png), name and color as in
# cityscapesScripts' labels.py. labels.py gives "license plate" id -1 (never written to label files);
# SPADE/SMIS use 35 label channels, so index 34 is kept for it, with its labels.py colour.
CITYSCAPES_CLASSES = _table([
    ("unlabeled", (0, 0, 0)),                      # 0
    ("ego vehicle", (0, 0, 0)),                    # 1
    ("rectification border", (0, 0, 0)),           # 2
    ("out of roi", (0, 0, 0)),                     # 3
    ("static", (0, 0, 0)),                         # 4
    ("dynamic", (111, 74, 0)),                     # 5
    ("ground", (81, 0, 81)),                       # 6
    ("road", (128, 64, 128)),                      # 7
    ("sidewalk", (244, 35, 232)),                  # 8
    ("parking", (250, 170, 160)),                  # 9
    ("rail track", (230, 150, 140)),               # 10
    ("building", (70, 70, 70)),                    # 11
    ("wall", (102, 102, 156)),                     # 12
    ("fence", (190, 153, 153)),                    # 13
    ("guard rail", (180, 165, 180)),               # 14
    ("bridge", (150, 100, 100)),                   # 15
    ("tunnel", (150, 120, 90)),                    # 16
    ("pole", (153, 153, 153)),                     # 17
    ("polegroup", (153, 153, 153)),                # 18
    ("traffic light", (250, 170, 30)),             # 19
    ("traffic sign", (220, 220, 0)),               # 20
    ("vegetation", (107, 142, 35)),                # 21
    ("terrain", (152, 251, 152)),                  # 22
    ("sky", (70, 130, 180)),                       # 23
    ("person", (220, 20, 60)),                     # 24
    ("rider", (255, 0, 0)),                        # 25
    ("car", (0, 0, 142)),                          # 26
    ("truck", (0, 0, 70)),                         # 27
    ("bus", (0, 60, 100)),                         # 28
    ("caravan", (0, 0, 90)),                       # 29
    ("trailer", (0, 0, 110)),                      # 30
    ("train", (0, 80, 100)),                       # 31
    ("motorcycle", (0, 0, 230)),                   # 32
    ("bicycle", (119, 11, 32)),                    # 33
    ("license plate", (0, 0, 142)),                # 34 (labels.py id -1)
])

# ADE20K SceneParsing (ADEChallengeData2016). Label files hold 0 = "unlabelled" and 1..150 = the classes of
# objectInfo150.txt; here file value v becomes index v-1 and 0 becomes index 150 = "unknown" (black).
# Names are the first synonym of objectInfo150 (mmsegmentation's CLASSES differ only at 89, which it calls
# "television receiver"). The palette is the standard color150 one; it repeats (140, 140, 140) for
# road (6) and skyscraper (48), as the original does.
ADE20K_CLASSES = _table([
    ("wall", (120, 120, 120)),                     # 0
    ("building", (180, 120, 120)),                 # 1
    ("sky", (6, 230, 230)),                        # 2
    ("floor", (80, 50, 50)),                       # 3
    ("tree", (4, 200, 3)),                         # 4
    ("ceiling", (120, 120, 80)),                   # 5
    ("road", (140, 140, 140)),                     # 6
    ("bed", (204, 5, 255)),                        # 7
    ("windowpane", (230, 230, 230)),               # 8
    ("grass", (4, 250, 7)),                        # 9
    ("cabinet", (224, 5, 255)),                    # 10
    ("sidewalk", (235, 255, 7)),                   # 11
    ("person", (150, 5, 61)),                      # 12
    ("earth", (120, 120, 70)),                     # 13
    ("door", (8, 255, 51)),                        # 14
    ("table", (255, 6, 82)),                       # 15
    ("mountain", (143, 255, 140)),                 # 16
    ("plant", (204, 255, 4)),                      # 17
    ("curtain", (255, 51, 7)),                     # 18
    ("chair", (204, 70, 3)),                       # 19
    ("car", (0, 102, 200)),                        # 20
    ("water", (61, 230, 250)),                     # 21
    ("painting", (255, 6, 51)),                    # 22
    ("sofa", (11, 102, 255)),                      # 23
    ("shelf", (255, 7, 71)),                       # 24
    ("house", (255, 9, 224)),                      # 25
    ("sea", (9, 7, 230)),                          # 26
    ("mirror", (220, 220, 220)),                   # 27
    ("rug", (255, 9, 92)),                         # 28
    ("field", (112, 9, 255)),                      # 29
    ("armchair", (8, 255, 214)),                   # 30
    ("seat", (7, 255, 224)),                       # 31
    ("fence", (255, 184, 6)),                      # 32
    ("desk", (10, 255, 71)),                       # 33
    ("rock", (255, 41, 10)),                       # 34
    ("wardrobe", (7, 255, 255)),                   # 35
    ("lamp", (224, 255, 8)),                       # 36
    ("bathtub", (102, 8, 255)),                    # 37
    ("railing", (255, 61, 6)),                     # 38
    ("cushion", (255, 194, 7)),                    # 39
    ("base", (255, 122, 8)),                       # 40
    ("box", (0, 255, 20)),                         # 41
    ("column", (255, 8, 41)),                      # 42
    ("signboard", (255, 5, 153)),                  # 43
    ("chest of drawers", (6, 51, 255)),            # 44
    ("counter", (235, 12, 255)),                   # 45
    ("sand", (160, 150, 20)),                      # 46
    ("sink", (0, 163, 255)),                       # 47
    ("skyscraper", (140, 140, 140)),               # 48
    ("fireplace", (250, 10, 15)),                  # 49
    ("refrigerator", (20, 255, 0)),                # 50
    ("grandstand", (31, 255, 0)),                  # 51
    ("path", (255, 31, 0)),                        # 52
    ("stairs", (255, 224, 0)),                     # 53
    ("runway", (153, 255, 0)),                     # 54
    ("case", (0, 0, 255)),                         # 55
    ("pool table", (255, 71, 0)),                  # 56
    ("pillow", (0, 235, 255)),                     # 57
    ("screen door", (0, 173, 255)),                # 58
    ("stairway", (31, 0, 255)),                    # 59
    ("river", (11, 200, 200)),                     # 60
    ("bridge", (255, 82, 0)),                      # 61
    ("bookcase", (0, 255, 245)),                   # 62
    ("blind", (0, 61, 255)),                       # 63
    ("coffee table", (0, 255, 112)),               # 64
    ("toilet", (0, 255, 133)),                     # 65
    ("flower", (255, 0, 0)),                       # 66
    ("book", (255, 163, 0)),                       # 67
    ("hill", (255, 102, 0)),                       # 68
    ("bench", (194, 255, 0)),                      # 69
    ("countertop", (0, 143, 255)),                 # 70
    ("stove", (51, 255, 0)),                       # 71
    ("palm", (0, 82, 255)),                        # 72
    ("kitchen island", (0, 255, 41)),              # 73
    ("computer", (0, 255, 173)),                   # 74
    ("swivel chair", (10, 0, 255)),                # 75
    ("boat", (173, 255, 0)),                       # 76
    ("bar", (0, 255, 153)),                        # 77
    ("arcade machine", (255, 92, 0)),              # 78
    ("hovel", (255, 0, 255)),                      # 79
    ("bus", (255, 0, 245)),                        # 80
    ("towel", (255, 0, 102)),                      # 81
    ("light", (255, 173, 0)),                      # 82
    ("truck", (255, 0, 20)),                       # 83
    ("tower", (255, 184, 184)),                    # 84
    ("chandelier", (0, 31, 255)),                  # 85
    ("awning", (0, 255, 61)),                      # 86
    ("streetlight", (0, 71, 255)),                 # 87
    ("booth", (255, 0, 204)),                      # 88
    ("television", (0, 255, 194)),                 # 89
    ("airplane", (0, 255, 82)),                    # 90
    ("dirt track", (0, 10, 255)),                  # 91
    ("apparel", (0, 112, 255)),                    # 92
    ("pole", (51, 0, 255)),                        # 93
    ("land", (0, 194, 255)),                       # 94
    ("bannister", (0, 122, 255)),                  # 95
    ("escalator", (0, 255, 163)),                  # 96
    ("ottoman", (255, 153, 0)),                    # 97
    ("bottle", (0, 255, 10)),                      # 98
    ("buffet", (255, 112, 0)),                     # 99
    ("poster", (143, 255, 0)),                     # 100
    ("stage", (82, 0, 255)),                       # 101
    ("van", (163, 255, 0)),                        # 102
    ("ship", (255, 235, 0)),                       # 103
    ("fountain", (8, 184, 170)),                   # 104
    ("conveyer belt", (133, 0, 255)),              # 105
    ("canopy", (0, 255, 92)),                      # 106
    ("washer", (184, 0, 255)),                     # 107
    ("plaything", (255, 0, 31)),                   # 108
    ("swimming pool", (0, 184, 255)),              # 109
    ("stool", (0, 214, 255)),                      # 110
    ("barrel", (255, 0, 112)),                     # 111
    ("basket", (92, 255, 0)),                      # 112
    ("waterfall", (0, 224, 255)),                  # 113
    ("tent", (112, 224, 255)),                     # 114
    ("bag", (70, 184, 160)),                       # 115
    ("minibike", (163, 0, 255)),                   # 116
    ("cradle", (153, 0, 255)),                     # 117
    ("oven", (71, 255, 0)),                        # 118
    ("ball", (255, 0, 163)),                       # 119
    ("food", (255, 204, 0)),                       # 120
    ("step", (255, 0, 143)),                       # 121
    ("tank", (0, 255, 235)),                       # 122
    ("trade name", (133, 255, 0)),                 # 123
    ("microwave", (255, 0, 235)),                  # 124
    ("pot", (245, 0, 255)),                        # 125
    ("animal", (255, 0, 122)),                     # 126
    ("bicycle", (255, 245, 0)),                    # 127
    ("lake", (10, 190, 212)),                      # 128
    ("dishwasher", (214, 255, 0)),                 # 129
    ("screen", (0, 204, 255)),                     # 130
    ("blanket", (20, 0, 255)),                     # 131
    ("sculpture", (255, 255, 0)),                  # 132
    ("hood", (0, 153, 255)),                       # 133
    ("sconce", (0, 41, 255)),                      # 134
    ("vase", (0, 255, 204)),                       # 135
    ("traffic light", (41, 0, 255)),               # 136
    ("tray", (41, 255, 0)),                        # 137
    ("ashcan", (173, 0, 255)),                     # 138
    ("fan", (0, 245, 255)),                        # 139
    ("pier", (71, 0, 255)),                        # 140
    ("crt screen", (122, 0, 255)),                 # 141
    ("plate", (0, 255, 184)),                      # 142
    ("monitor", (0, 92, 255)),                     # 143
    ("bulletin board", (184, 255, 0)),             # 144
    ("shower", (0, 133, 255)),                     # 145
    ("radiator", (255, 214, 0)),                   # 146
    ("glass", (25, 194, 194)),                     # 147
    ("clock", (102, 255, 0)),                      # 148
    ("flag", (92, 0, 255)),                        # 149
    ("unknown", (0, 0, 0)),                        # 150 (file value 0)
])

# DeepFashion as prepared by the SMIS authors (ROOT/cihp_{train,test}_mask/*.png, label_nc=8).
# Certain: there are 8 classes (data/deepfashion_dataset.py), and they are the paper's (Appendix B)
# "hair, face, skin (including hands and legs), top-clothes, bottom-clothes, socks, shoes, and background",
# merged from CIHP human-parsing output (see Seanseattle/SMIS issue #4).
# Inferred: which file value means which class. No public SMIS source states it; this follows the paper's
# listing order, which is also the 20 -> 8 CIHP mapping of the raven38/GroupDNet re-implementation
# (deepfashion.py): hair <- hair, hat; face <- face, sunglasses; skin <- torso-skin, arms, legs;
# top-clothes <- upper-clothes, dress, coat, scarf, glove; bottom-clothes <- pants, skirt; socks <- socks;
# shoes <- left/right shoe; background <- background. Check a mask before relying on an index.
# The colours are our own choice (well separated; background black), not from any source.
DEEPFASHION_CLASSES = _table([
    ("hair", (255, 0, 0)),                         # 0
    ("face", (0, 0, 255)),                         # 1
    ("skin", (255, 200, 150)),                     # 2
    ("top-clothes", (0, 200, 0)),                  # 3
    ("bottom-clothes", (0, 160, 160)),             # 4
    ("socks", (160, 0, 255)),                      # 5
    ("shoes", (255, 255, 0)),                      # 6
    ("background", (0, 0, 0)),                     # 7
])

# The built-in synthetic scenes (smis.data.synthetic): our own classes and colours.
SYNTHETIC_CLASSES = _table([
    ("sky", (70, 130, 180)),
    ("grass", (107, 142, 35)),
    ("road", (128, 64, 128)),
    ("building", (70, 70, 70)),
    ("tree", (0, 160, 0)),
    ("car", (0, 0, 142)),
    ("water", (40, 80, 200)),
    ("rock", (150, 110, 80)),
])

# Cityscapes labelId (value of gtFine *_labelIds.png, our class id) -> trainId, from cityscapesScripts
# helpers/labels.py: the 19 evaluated classes get 0..18, every class with ignoreInEval gets -1 (not scored).
# labelId 34 is our slot for "license plate" (labels.py id -1, trainId -1, ignoreInEval): not scored either.
_ = -1
CITYSCAPES_TRAIN_IDS = (
    _, _, _, _, _, _, _,         # 0-6   unlabeled, ego vehicle, rectification border, out of roi, static,
                                 #       dynamic, ground
    0, 1,                        # 7-8   road, sidewalk
    _, _,                        # 9-10  parking, rail track
    2, 3, 4,                     # 11-13 building, wall, fence
    _, _, _,                     # 14-16 guard rail, bridge, tunnel
    5,                           # 17    pole
    _,                           # 18    polegroup
    6, 7, 8, 9, 10, 11, 12, 13, 14, 15,   # 19-28 traffic light ... bus
    _, _,                        # 29-30 caravan, trailer
    16, 17, 18,                  # 31-33 train, motorcycle, bicycle
    _,                           # 34    license plate
)
del _
# Names of trainIds 0..18 (the classes a Cityscapes segmenter such as DRN-D-105 predicts).
CITYSCAPES_TRAIN_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)


# 35 labelIds with instance maps; scored on the 19 trainIds (cityscapesScripts' protocol).
CITYSCAPES = DatasetSpec(
    "cityscapes", **CITYSCAPES_CLASSES, label_rule=LabelRule(),
    eval_ids=CITYSCAPES_TRAIN_IDS, eval_names=CITYSCAPES_TRAIN_CLASSES,
    model_preset="cityscapes", native_size=(256, 512), instance_maps=True)

# File value v -> class v-1; 0 ("unlabelled") and 255 -> the last class, "unknown" (150),
# which is never scored.
ADE20K = DatasetSpec(
    "ade20k", **ADE20K_CLASSES,
    label_rule=LabelRule(shift=-1, unknown_index=150, num_labelled=150),
    model_preset="ade20k", native_size=(256, 256))

DEEPFASHION = DatasetSpec("deepfashion", **DEEPFASHION_CLASSES, model_preset="deepfashion",
                          native_size=(256, 256))

SYNTHETIC = DatasetSpec("synthetic", **SYNTHETIC_CLASSES, model_preset="small", native_size=(128, 128))

SPECS: dict[str, DatasetSpec] = {s.name: s for s in (CITYSCAPES, ADE20K, DEEPFASHION, SYNTHETIC)}


def dataset_spec(name: str) -> DatasetSpec:
    """A built-in dataset's spec by name, with an error listing the names."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(SPECS)}") from None
