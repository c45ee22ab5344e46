"""Volume fuzz cases (NIfTI, MGH, a sagittal DICOM volume): seeds, header mutations and bombs.

``scripts/fuzz_cases.py`` adds these to its seeds, mutations and bombs. Seeds are real: the MNI
template cut down (plain .nii and .nii.gz), nilearn's test.mgz (a 4-D FreeSurfer file) and a
folder holding a sagittal DICOM series of the template.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import tempfile
from pathlib import Path

# (offset, struct format) of NIfTI-1 header fields worth breaking
NIFTI_FIELDS = {
    "sizeof_hdr": (0, "<i"), "dim": (40, "<8h"), "datatype": (70, "<h"), "bitpix": (72, "<h"),
    "pixdim": (76, "<8f"), "vox_offset": (108, "<f"), "scl_slope": (112, "<f"), "scl_inter": (116, "<f"),
    "qform_code": (252, "<h"), "sform_code": (254, "<h"), "srow_x": (280, "<4f"),
}
INTERESTING_DIMS = ((3, 0, 10, 10), (3, 32767, 32767, 32767), (7, 2, 2, 2, 2, 2, 2, 2), (-1, 5, 5, 5), (3, 1, 1, 1),
                    (3, 512, 512, 256), (2, 64, 64), (8, 1, 1, 1, 1, 1, 1, 1))


def mni_nifti_bytes(compressed: bool) -> bytes:
    """The MNI template at 4 mm, 8 axial slices, as a NIfTI file (a few tens of kB)."""
    from tests import volume_data

    with tempfile.TemporaryDirectory() as tmp:
        path = volume_data.small_mni(Path(tmp) / ("mni.nii.gz" if compressed else "mni.nii"), range(50, 130, 10),
                                     step=4, axcodes=("L", "P", "S"))
        return path.read_bytes()


def volume_seeds(case_type) -> list:
    from tests import volume_data

    seeds = [case_type("MNI NIfTI", mni_nifti_bytes(False), ".nii"),
             case_type("MNI NIfTI gzip", mni_nifti_bytes(True), ".nii.gz")]
    mgz = volume_data.shipped_file("nilearn", "datasets/data/test.mgz")
    if mgz.exists():
        seeds.append(case_type("test.mgz", mgz.read_bytes(), ".mgz"))
    return seeds


def sagittal_folder_seed(case_type):
    import nibabel
    import numpy as np

    from tests import volume_data

    data = np.asarray(nibabel.load(volume_data.mni_path()).dataobj)[::12, ::8, ::8]
    with tempfile.TemporaryDirectory() as tmp:
        paths = volume_data.write_sagittal_series(Path(tmp), data, (12.0, 8.0, 8.0), shuffle=False)
        files = tuple((p.name, p.read_bytes()) for p in paths)
    return case_type("MNI sagittal DICOM volume folder", b"", "", files)


def mutate_nifti_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One NIfTI-1 header field set to a hostile value (a .nii.gz is unpacked and packed again)."""
    packed = data[:2] == b"\x1f\x8b"
    try:
        raw = bytearray(gzip.decompress(data) if packed else data)
    except (OSError, EOFError):
        return data, "unreadable"
    if len(raw) < 348:
        return data, "short"
    name = rng.choice(tuple(NIFTI_FIELDS))
    offset, fmt = NIFTI_FIELDS[name]
    count = struct.calcsize(fmt) // (4 if fmt[-1] in "if" else 2)
    if name == "dim":
        dims = rng.choice(INTERESTING_DIMS)
        value = tuple(dims) + (1,) * (8 - len(dims))
    elif fmt[-1] == "f":
        value = tuple(rng.choice((0.0, -1.0, 1e38, float("nan"), float("inf"), 2.0**31, 352.0)) for _ in range(count))
    else:
        value = tuple(rng.choice((0, -1, 1, 2, 16, 32, 64, 128, 511, 1536, 2304, 32767, 348, 540, 2**31 - 1))
                      for _ in range(count))
        if fmt[-1] == "h":
            value = tuple(max(-32768, min(32767, v)) for v in value)
    struct.pack_into(fmt, raw, offset, *value)
    out = bytes(raw)
    return (gzip.compress(out, 1) if packed else out), f"{name}={value if count > 1 else value[0]}"


def volume_bombs(case_type, heavy: bool = True) -> list:
    """NIfTI files that claim far more voxels than they hold, or hold a huge zero volume in kB."""
    import nibabel
    import numpy as np

    plain = mni_nifti_bytes(False)
    header = bytearray(plain)
    struct.pack_into("<8h", header, 40, 3, 32767, 32767, 32767, 1, 1, 1, 1)
    cases = [case_type("bomb: NIfTI header dims 32767^3 (70 TB)", bytes(header), ".nii")]
    offset = bytearray(plain)
    struct.pack_into("<f", offset, 108, 2.0**31)
    cases.append(case_type("bomb: NIfTI vox_offset 2 GB", bytes(offset), ".nii"))
    small = nibabel.Nifti1Image(np.zeros((8, 8, 8), np.int16), np.eye(4))
    small.header.set_data_shape((512, 512, 512))
    buffer = io.BytesIO()
    buffer.write(small.header.binaryblock + b"\0" * 4 + np.zeros(512, np.int16).tobytes())
    cases.append(case_type("bomb: NIfTI.gz header 512^3, 1 kB of voxels", gzip.compress(buffer.getvalue()), ".nii.gz"))
    if heavy:  # a real, valid, all-zero 512 x 512 x 256 volume: 134 MB inflated from ~130 kB
        zeros = nibabel.Nifti1Image(np.zeros((512, 512, 256), np.int16), np.eye(4))
        raw = zeros.header.binaryblock + b"\0" * 4 + bytes(512 * 512 * 256 * 2)
        cases.append(case_type("bomb: NIfTI.gz 512x512x256 zeros (real data)", gzip.compress(raw, 6), ".nii.gz"))
    return cases
