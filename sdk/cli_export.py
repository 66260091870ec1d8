"""The arguments of `mmedge export` (the command itself is mmedge.export.cli.run_export, loaded
only when it runs: the runtime never imports torch)."""

from __future__ import annotations

from typing import Any


def _add_export_data(p: Any) -> None:
    """`mmedge export`'s task and data options."""
    p.add_argument(
        "--task",
        default="classification",
        choices=["classification", "detection", "segmentation"],
        help="detection: the output is a detector head (--head), --eval is a COCO folder, "
        "accuracy is COCO mAP@0.5:0.95 (pycocotools); segmentation: the output is (N, classes, "
        "h, w) logits, --eval a folder of images/ and masks/ (class-id PNGs), accuracy mIoU",
    )
    p.add_argument(
        "--head",
        metavar="HEAD.json|JSON",
        help="the task head's options (mmedge.tasks.DetectionHead or SegmentationHead fields, "
        'e.g. \'{"kind": "anchor_free", "score_threshold": 0.25}\'); default: an anchor-free '
        "detection head, a segmentation head on the first output",
    )
    p.add_argument(
        "--nms",
        choices=("kernel", "graph"),
        default="kernel",
        help="detection: NMS in mmedge's kernel (default) or in the graph (ONNX "
        "NonMaxSuppression; the artifacts output final boxes)",
    )
    p.add_argument(
        "--calib",
        metavar="DIR",
        help="calibration data DIR/<label>/<file> (int8); detection and segmentation: any "
        "images under DIR",
    )
    p.add_argument(
        "--eval",
        metavar="DIR",
        help="labelled evaluation data DIR/<label>/<file>; detection: a COCO folder "
        "(annotations.json + images); segmentation: DIR/images + DIR/masks (+ labels.txt)",
    )


def add_export(sub: Any, command: Any) -> None:
    """`mmedge export` (handed to mmedge.export.cli)."""
    p = sub.add_parser("export", help="export a PyTorch model to a checked bundle")
    p.add_argument(
        "factory",
        metavar="MODULE:FUNCTION",
        help="a function returning the nn.Module (package.module:fn or path/file.py:fn)",
    )
    p.add_argument(
        "--weights", required=True, help="state_dict file (loaded with weights_only=True)"
    )
    p.add_argument("-o", "--out", required=True, help="NAME.mmb (directory) or NAME.mmb.tar")
    p.add_argument("--name", help="bundle name (default: from --out)")
    p.add_argument(
        "--preprocess",
        metavar="SPEC.json|PRESET",
        help="the input's preprocessing: a JSON spec (image, audio or video; as "
        "ImageSpec/AudioSpec/VideoSpec.to_dict() write it) or a preset: mnist, imagenet-224, "
        "yolo-640, fsdd-mfcc, fsdd-logmel, kaldi-mfcc-16k, kinetics-112",
    )
    p.add_argument(
        "--input-shape", help="one sample's input shape, e.g. C,H,W (default: from --preprocess)"
    )
    p.add_argument("--input-name", help="name of the preprocessed input (default by modality)")
    p.add_argument(
        "--input",
        action="append",
        metavar="NAME=D1,D2",
        help="a tensor input without preprocessing (repeat for several), e.g. the "
        "embeddings a fusion head takes",
    )
    p.add_argument(
        "--outputs",
        default="logits",
        metavar="NAME[:KIND],...",
        help="the model's outputs in order, kinds logits|probs|embedding|regression "
        "(default: logits)",
    )
    p.add_argument("--labels", help="text file with one label per line")
    modalities = ["image", "audio", "video", "fusion", "multimodal"]
    p.add_argument("--modality", choices=modalities, help="default: the --preprocess spec's kind")
    p.add_argument(
        "--precision",
        default="fp32",
        metavar="fp32,fp16,int8",
        help="artifacts to write (fp32 is always written)",
    )
    _add_export_data(p)
    p.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=1.0,
        metavar="PTS",
        help="int8 may lose at most this many top-1 points vs fp32 (default 1.0)",
    )
    p.add_argument(
        "--calibration-method", default="minmax", choices=["minmax", "entropy", "percentile"]
    )
    p.add_argument(
        "--max-float-layers",
        type=int,
        default=None,
        metavar="N",
        help="keep at most N layers in float to meet the accuracy bound",
    )
    p.add_argument(
        "--no-int8-cpu-variant",
        action="store_true",
        help="skip the uint8-activation int8 artifact (the fast one on x86 CPUs)",
    )
    p.add_argument(
        "--simplify",
        action="store_true",
        help="simplify the graph with onnxslim (parity re-checked)",
    )
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--exporter", default="auto", choices=["auto", "dynamo", "torchscript"])
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=command)
