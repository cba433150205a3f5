import pytest

from probes.kernel import parse_release, read_release
from probes.reading import ParseError, Status
from probes.root import Root
from tests.vmdata import vm_root


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_release(root)
    assert r.ok and r.value.raw == "6.18.44-fc-v782" and r.value.version == (6, 18, 44)
    assert r.value.local == "-fc-v782"


@pytest.mark.parametrize("text, version, local", [
    ("6.1.0-26-amd64\n", (6, 1, 0), "-26-amd64"), ("6.12.9+bpo-amd64", (6, 12, 9), "+bpo-amd64"),
    ("5.10", (5, 10, 0), ""), ("6.8-rc3", (6, 8, 0), "-rc3"),
])
def test_forms(text, version, local):
    r = parse_release(text)
    assert (r.version, r.local) == (version, local)


@pytest.mark.parametrize("text", ["", "linux", "6", "6.x", "6.1 extra"])
def test_garbage(text):
    with pytest.raises(ParseError):
        parse_release(text)


def test_absent(tmp_path):
    assert read_release(Root(tmp_path)).status is Status.ABSENT
