from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipetrack.errors import ValidationError
from pipetrack.storage import (
    deserialize_artifact, get_local_copy, join_url, serialize_artifact, upload_file,
)


class Point:
    """A user class that only pickle can carry."""

    def __init__(self, x: int, y: int):
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def roundtrip(obj, tmp_path, name="art", via_url=None, **kwargs):
    """serialize -> upload -> cached local copy -> deserialize; returns (result, SerializedArtifact)."""
    art = serialize_artifact(obj, str(tmp_path / "work"), name, **kwargs)
    if art.type == "url":
        return deserialize_artifact(art.url, art.type, art.extension), art
    dest = via_url or (tmp_path / "store").as_uri()
    url = upload_file(art.local_path, join_url(dest, name + art.extension))
    local = get_local_copy(url, extract_archive=art.is_archive)
    return deserialize_artifact(local, art.type, art.extension), art


def test_dict_json(tmp_path, pipetrack_home):
    obj = {"lr": 0.1, "layers": [1, 2, 3], "name": "x", "nested": {"ok": True, "none": None}}
    out, art = roundtrip(obj, tmp_path, via_url="memory://ser-tests/dict")
    assert out == obj and art.type == "dict" and art.extension == ".json"
    assert art.content_type == "application/json" and '"lr": 0.1' in art.preview
    assert json.loads(Path(art.local_path).read_text()) == obj


def test_list_json_and_lossy_dict_falls_back_to_pickle(tmp_path):
    out, art = roundtrip([1, "two", 3.5], tmp_path)
    assert out == [1, "two", 3.5] and art.extension == ".json"
    lossy = {1: ("a", "b"), "nan": float("inf")}
    out, art = roundtrip(lossy, tmp_path, name="lossy")
    assert out == lossy and art.type == "pickle"


def test_dict_yaml(tmp_path):
    pytest.importorskip("yaml")
    obj = {"a": 1, "b": ["x", "y"]}
    out, art = roundtrip(obj, tmp_path, extension_name="yaml")
    assert out == obj and art.extension == ".yaml"


def test_numpy_default_npy_and_npz_and_csv(tmp_path):
    np = pytest.importorskip("numpy")
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out, art = roundtrip(arr, tmp_path)
    assert art.type == "numpy" and art.extension == ".npy"
    assert out.dtype == arr.dtype and np.array_equal(out, arr)
    assert "shape=(2, 3, 4)" in art.preview and "float32" in art.preview
    out, art = roundtrip(arr, tmp_path, name="z", extension_name=".npz")
    assert art.extension == ".npz" and np.array_equal(out, arr)
    mat = np.arange(6, dtype=float).reshape(2, 3)
    out, art = roundtrip(mat, tmp_path, name="c", extension_name="csv.gz")
    assert art.extension == ".csv.gz" and np.array_equal(out, mat)


def test_numpy_object_array_is_pickled_or_refused(tmp_path):
    np = pytest.importorskip("numpy")
    arr = np.array([{"a": 1}, None], dtype=object)
    out, art = roundtrip(arr, tmp_path)
    assert art.type == "pickle" and out[0] == {"a": 1}
    with pytest.raises(ValidationError, match="dtype object"):
        serialize_artifact(arr, str(tmp_path), "o", auto_pickle=False)


def test_pandas_csv_gz_default_and_others(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])
    out, art = roundtrip(df, tmp_path)
    assert art.type == "pandas" and art.extension == ".csv.gz"
    pd.testing.assert_frame_equal(out, df, check_index_type=False, check_names=False)
    assert "shape=(3, 2)" in art.preview
    for ext in (".csv", ".pickle"):
        out, art = roundtrip(df, tmp_path, name="df" + ext.strip("."), extension_name=ext)
        assert art.extension == ext
        pd.testing.assert_frame_equal(out, df, check_names=False)


def test_pandas_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"a": [1.5, 2.5]})
    out, art = roundtrip(df, tmp_path, extension_name="parquet")
    assert art.extension == ".parquet"
    pd.testing.assert_frame_equal(out, df)


def test_pil_image_png_and_jpeg(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    img = Image.new("RGBA", (8, 6), (255, 0, 0, 128))
    out, art = roundtrip(img, tmp_path)
    assert art.type == "image" and art.extension == ".png" and art.content_type == "image/png"
    assert out.size == (8, 6) and out.mode == "RGBA" and out.tobytes() == img.tobytes()
    out, art = roundtrip(img, tmp_path, name="j", extension_name=".jpg")
    assert art.extension == ".jpg" and out.format == "JPEG" and out.size == (8, 6)
    with pytest.raises(ValidationError, match=r"accepted values are: .*'\.png'"):
        serialize_artifact(img, str(tmp_path), "bad", extension_name=".nope")


def test_existing_file_is_uploaded_as_is(tmp_path):
    src = tmp_path / "report.tar.gz"
    src.write_bytes(b"\x1f\x8b not really")
    out, art = roundtrip(src, tmp_path)
    assert art.type == "file" and art.extension == ".tar.gz" and not art.owned
    assert art.local_path == str(src)
    assert Path(out).read_bytes() == src.read_bytes()
    _, art = roundtrip(str(src), tmp_path, name="as-str")
    assert art.type == "file"


def _make_tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("1")
    (root / "b.txt").write_text("2")
    (root / "sub" / "c.csv").write_text("3")


def _tree(folder: str) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in Path(folder).rglob("*") if p.is_file()}


def test_folder_becomes_zip_then_extracted_folder(tmp_path, pipetrack_home):
    _make_tree(tmp_path / "data")
    out, art = roundtrip(tmp_path / "data", tmp_path, name="dataset", via_url="memory://ser-tests/folder")
    assert art.type == "folder" and art.extension == ".zip" and art.is_archive
    assert zipfile.is_zipfile(art.local_path)
    assert os.path.isdir(out) and _tree(out) == {"a.csv": "1", "b.txt": "2", "sub/c.csv": "3"}
    # deserialising the archive itself (no extraction by the cache) also yields a folder
    folder = deserialize_artifact(art.local_path, art.type, art.extension)
    assert _tree(folder) == _tree(out)


def test_wildcard_becomes_zip_of_matches(tmp_path):
    _make_tree(tmp_path / "data")
    out, art = roundtrip(str(tmp_path / "data" / "*.csv"), tmp_path, name="csvs")
    assert art.type == "folder" and "2 files" in art.preview
    assert _tree(out) == {"a.csv": "1", "sub/c.csv": "3"}
    with pytest.raises(ValidationError, match="could not be found"):
        serialize_artifact(tmp_path / "data" / "*.nothing", str(tmp_path / "w"), "none")


def test_plain_string_and_url(tmp_path):
    out, art = roundtrip("just some text: not a path", tmp_path)
    assert art.type == "string" and art.extension == ".txt" and out == "just some text: not a path"
    assert roundtrip("", tmp_path, name="empty")[0] == ""
    long_text = "x" * 500
    assert len(serialize_artifact(long_text, str(tmp_path / "w"), "long").preview) <= 210
    out, art = roundtrip("s3://bucket/models/model.pkl", tmp_path, name="ref")
    assert art.type == "url" and out == "s3://bucket/models/model.pkl" and art.local_path == ""
    assert art.extension == ".pkl" and not art.owned


def test_custom_serialization_function(tmp_path):
    def ser(obj):
        return ("|".join(obj)).encode()

    out, art = roundtrip(["a", "b"], tmp_path, serialization_function=ser, extension_name=".psv")
    assert art.type == "custom" and art.extension == ".psv"
    assert Path(out).read_bytes() == b"a|b"
    local = art.local_path
    assert deserialize_artifact(local, art.type, art.extension,
                                deserialization_function=lambda b: b.decode().split("|")) == ["a", "b"]
    with pytest.raises(ValidationError, match="must return bytes"):
        serialize_artifact(1, str(tmp_path), "bad", serialization_function=lambda o: "text")


def test_pickle_of_custom_class(tmp_path):
    out, art = roundtrip(Point(1, 2), tmp_path)
    assert art.type == "pickle" and art.extension == ".pkl" and out == Point(1, 2)
    assert "Point" in art.preview
    out, art = roundtrip({"a": 1}, tmp_path, name="forced", extension_name=".pkl")
    assert art.type == "pickle" and out == {"a": 1}


def test_pickle_readable_in_fresh_process_without_the_class_module(tmp_path):
    art = serialize_artifact(lambda x: x * 3, str(tmp_path), "fn")
    code = f"import pickle; f = pickle.load(open({art.local_path!r}, 'rb')); print(f(14))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


def test_auto_pickle_false_names_the_type(tmp_path):
    with pytest.raises(ValidationError, match="Point.*auto_pickle=False"):
        serialize_artifact(Point(0, 0), str(tmp_path), "p", auto_pickle=False)


def test_bad_extension_lists_accepted(tmp_path):
    with pytest.raises(ValidationError, match=r"'\.json', '\.yaml', '\.yml'"):
        serialize_artifact({"a": 1}, str(tmp_path), "d", extension_name=".csv")
    np = pytest.importorskip("numpy")
    with pytest.raises(ValidationError, match=r"'\.npy', '\.npz'"):
        serialize_artifact(np.zeros(2), str(tmp_path), "n", extension_name="png")
    with pytest.raises(ValidationError, match=r"'\.pkl'"):
        serialize_artifact(Point(1, 1), str(tmp_path), "p", extension_name=".json")


@pytest.mark.parametrize("name", ["", "a/b", "..", "x\\y"])
def test_bad_artifact_name(tmp_path, name):
    with pytest.raises(ValidationError, match="artifact name"):
        serialize_artifact({"a": 1}, str(tmp_path), name)


def test_optional_libraries_not_imported_for_plain_objects(tmp_path):
    code = (
        "import sys\n"
        "from pipetrack.storage import serialize_artifact, deserialize_artifact\n"
        f"a = serialize_artifact({{'k': [1, 2]}}, {str(tmp_path)!r}, 'd')\n"
        "assert deserialize_artifact(a.local_path, a.type, a.extension) == {'k': [1, 2]}\n"
        f"serialize_artifact('text', {str(tmp_path)!r}, 's')\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'PIL', 'fsspec', 's3fs') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
