"""Profiles: built-in machines and models load with sources, users add and override, bad files explain."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tuilab.core.errors import ProfileError, UnknownNameError
from tuilab.core.hardware import GIB, MIB, Platform
from tuilab.models import profiles
from tuilab.models.profiles import (
    find_hardware_profile,
    hardware_profile_names,
    load_hardware_profile,
    load_model_profile,
    model_profile_names,
)

REPO_PROFILES = Path(__file__).resolve().parents[2] / "tuilab" / "data" / "profiles"
HARDWARE_NAMES = [
    "m1-7c-8gb",
    "m1-max-32c-64gb",
    "m2-pro-19c-32gb",
    "m2-ultra-76c-192gb",
    "m3-max-30c-36gb",
    "m3-max-40c-48gb",
    "m3-max-40c-64gb",
    "m3-ultra-80c-512gb",
    "m4-10c-16gb",
    "m4-pro-20c-48gb",
    "m4-max-40c-128gb",
    "m4-max-32c-36gb",
    "m5-10c-16gb",
    "m5-pro-20c-64gb",
    "m5-max-40c-128gb",
    "rtx-3060-12gb",
    "rtx-3070-8gb",
    "rtx-3080-10gb",
    "rtx-3090-24gb",
    "rtx-4060-ti-16gb",
    "rtx-4080-16gb",
    "rtx-4090-24gb",
    "rtx-5090-32gb",
    "a100-pcie-80gb",
    "a100-sxm-80gb",
    "h100-pcie-80gb",
    "h100-sxm-80gb",
    "h200-141gb",
    "l4-24gb",
    "l40s-48gb",
    "t4-16gb",
]
MODEL_NAMES = [
    "llama-3-8b",
    "llama-3.1-8b",
    "llama-3-70b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "mistral-7b-v0.3",
    "qwen2.5-7b",
    "qwen2.5-32b",
    "gemma-2-9b",
    "phi-3-mini",
    "mixtral-8x7b",
    "qwen3-30b-a3b",
    "bitnet-b1.58-2b-4t",
]


@pytest.fixture(autouse=True)
def tuilab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty user config dir, so a real user's profiles never leak in."""
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path))
    return tmp_path


def write_user_profile(kind: str, name: str, text: str) -> Path:
    path = profiles.user_profiles_dir() / kind / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def builtin_text(kind: str, name: str) -> str:
    return (REPO_PROFILES / kind / f"{name}.toml").read_text()


class TestBuiltinProfiles:
    def test_every_promised_machine_and_model_is_there(self) -> None:
        assert set(HARDWARE_NAMES) <= set(hardware_profile_names())
        assert set(MODEL_NAMES) <= set(model_profile_names())

    @pytest.mark.parametrize("name", HARDWARE_NAMES)
    def test_hardware_profile_loads_as_an_idle_profiled_machine(self, name: str) -> None:
        spec = load_hardware_profile(name)
        assert spec.is_profile and spec.ram_available_bytes == spec.ram_bytes
        assert len(spec.gpus) == 1 and spec.gpus[0].free_bytes == spec.gpus[0].memory_bytes
        assert spec.gpu_budget_bytes > 0 and spec.host_budget_bytes > 0

    @pytest.mark.parametrize("name", HARDWARE_NAMES)
    def test_every_number_in_a_hardware_file_has_a_source(self, name: str) -> None:
        data = tomllib.loads(builtin_text("hardware", name))
        numbers = [
            f"{table}.{key}"
            for table in ("memory", "cpu", "gpu")
            for key, value in data.get(table, {}).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        assert [key for key in numbers if not data["sources"].get(key, "").strip()] == []

    @pytest.mark.parametrize("name", MODEL_NAMES)
    def test_model_profile_cites_its_config_json(self, name: str) -> None:
        profile = load_model_profile(name)
        config_url = f"https://huggingface.co/{profile.hf_repo}/blob/main/config.json"
        assert profile.name == name and profile.path.parent == REPO_PROFILES / "models"
        assert config_url in profile.arch.sources["n_layers"]
        assert all(source.startswith(f"profile {name}.toml: ") for source in profile.arch.sources.values())


class TestSpotValues:
    def test_m3_max_40c_48gb_is_unified_memory_at_400_gbps(self) -> None:
        spec = load_hardware_profile("m3-max-40c-48gb")
        assert spec.platform is Platform.APPLE and spec.unified
        assert spec.ram_bytes == 48 * GIB and spec.ram_bandwidth_gbps == 400.0
        gpu = spec.gpus[0]
        assert (gpu.memory_bytes, gpu.bandwidth_gbps, gpu.backend) == (48 * GIB, 400.0, "metal")
        # A profile assumes a recent macOS, whose default working set on 48 GiB reads 40200.90 MB.
        assert spec.wired_limit_bytes == 40_200_900_000 and spec.wired_limit_is_default
        assert "macOS 15+" in spec.source("wired_limit_bytes")
        assert spec.os_reserve_bytes == 4 * GIB

    def test_m5_max_has_super_and_performance_cores_at_614_gbps(self) -> None:
        spec = load_hardware_profile("m5-max-40c-128gb")
        assert (spec.cpu_cores, spec.ram_bandwidth_gbps, spec.gpus[0].fp16_tflops) == (18, 614.0, None)
        assert spec.wired_limit_bytes == 115_448_730_000  # the 128 GiB reading on macOS 26

    def test_rtx_3060_has_12_gib_at_360_gbps_beside_host_ram(self) -> None:
        spec = load_hardware_profile("rtx-3060-12gb")
        gpu = spec.gpus[0]
        assert (gpu.memory_bytes, gpu.bandwidth_gbps, gpu.backend) == (12 * GIB, 360.0, "cuda")
        assert spec.platform is Platform.NVIDIA and spec.wired_limit_bytes is None
        assert spec.gpu_budget_bytes == 12 * GIB

    def test_h100_sxm_memory_is_what_nvidia_smi_reports(self) -> None:
        assert load_hardware_profile("h100-sxm-80gb").gpus[0].memory_bytes == 81559 * MIB

    def test_llama_3_8b_shape(self) -> None:
        arch = load_model_profile("llama-3-8b").arch
        assert (arch.n_layers, arch.n_kv_heads, arch.vocab_size, arch.head_dim) == (32, 8, 128256, 128)
        assert arch.kv_dim == 1024 and not arch.tied_embeddings

    def test_gemma_2_alternates_sliding_and_global_layers(self) -> None:
        arch = load_model_profile("gemma-2-9b").arch
        assert arch.sliding_window == 4096
        assert arch.swa_layers == frozenset(range(0, 42, 2))
        assert "swa pattern of 2" in arch.sources["swa_layers"].lower()

    def test_models_without_a_window_have_no_sliding_layers(self) -> None:
        assert load_model_profile("mistral-7b-v0.3").arch.swa_layers == frozenset()

    def test_bitnet_defaults_to_a_ternary_quant(self) -> None:
        assert load_model_profile("bitnet-b1.58-2b-4t").default_quant in {"TQ1_0", "TQ2_0"}

    def test_hardware_sources_name_the_profile_file(self) -> None:
        sources = load_hardware_profile("rtx-3060-12gb").sources
        for key in ("ram_bytes", "ram_bandwidth_gbps", "gpu.memory_bytes", "gpu.bandwidth_gbps"):
            assert sources[key].startswith("profile rtx-3060-12gb.toml: "), key
        assert "assumption" in sources["ram_bandwidth_gbps"]
        assert "wired_limit_bytes" in load_hardware_profile("m4-10c-16gb").sources


class TestParameterCounts:
    """Tensor shapes derived from the profiles add up to the counts the model cards publish."""

    @pytest.mark.parametrize(
        ("name", "published_params"),
        [
            pytest.param("llama-3-8b", 8.03e9, id="llama-3-8b-8.03B"),
            pytest.param("llama-3-70b", 70.6e9, id="llama-3-70b-70.6B"),
            pytest.param("mixtral-8x7b", 46.7e9, id="mixtral-46.7B-all-experts"),
            pytest.param("qwen3-30b-a3b", 30.5e9, id="qwen3-moe-30.5B-all-experts"),
            pytest.param("gemma-2-9b", 9.24e9, id="gemma-2-9b-tied-9.24B"),
            pytest.param("qwen2.5-7b", 7.61e9, id="qwen2.5-7b-with-biases-7.61B"),
            pytest.param("phi-3-mini", 3.82e9, id="phi-3-mini-fused-3.82B"),
        ],
    )
    def test_total_parameters_within_two_percent(self, name: str, published_params: float) -> None:
        assert load_model_profile(name).arch.n_params == pytest.approx(published_params, rel=0.02)

    def test_mixtral_reads_about_12_9b_parameters_per_token(self) -> None:
        assert load_model_profile("mixtral-8x7b").arch.n_active_params == pytest.approx(12.9e9, rel=0.02)


class TestUserProfiles:
    def test_user_profile_overrides_the_builtin_of_the_same_name(self) -> None:
        text = builtin_text("hardware", "rtx-3060-12gb").replace("ram_gib = 32", "ram_gib = 16")
        path = write_user_profile("hardware", "rtx-3060-12gb", text)
        spec = load_hardware_profile("rtx-3060-12gb")
        assert spec.ram_bytes == 16 * GIB and spec.sources["profile"] == str(path)

    def test_user_profile_adds_a_machine(self) -> None:
        write_user_profile("hardware", "my-box", USER_CPU_BOX)
        assert "my-box" in hardware_profile_names()
        spec = load_hardware_profile("my-box")
        assert spec.platform is Platform.CPU and spec.gpus == () and spec.gpu_budget_bytes == 0
        assert spec.ram_bandwidth_gbps == 76.8 and "my own box" in spec.sources["ram_bandwidth_gbps"]

    def test_user_model_needs_only_the_required_keys(self) -> None:
        write_user_profile("models", "tiny", USER_TINY_MODEL)
        profile = load_model_profile("tiny")
        arch = profile.arch
        assert (arch.n_kv_heads, arch.head_dim) == (4, 16)  # defaults: n_heads, hidden / heads
        assert profile.hf_repo is None and profile.default_quant is None
        assert "no source given" in arch.sources["n_layers"]

    def test_a_toml_path_loads_without_installing_it(self, tmp_path: Path) -> None:
        path = tmp_path / "elsewhere" / "tiny.toml"
        path.parent.mkdir()
        path.write_text(USER_TINY_MODEL)
        assert load_model_profile(str(path)).arch.n_layers == 2
        assert "tiny" not in model_profile_names()

    def test_without_builtin_profiles_only_user_ones_exist(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(profiles, "builtin_profiles_dir", lambda: None)
        write_user_profile("hardware", "my-box", USER_CPU_BOX)
        assert hardware_profile_names() == ["my-box"] and model_profile_names() == []


USER_CPU_BOX = """
display_name = "My box"
platform = "cpu"
[memory]
ram_gib = 32
ram_bandwidth_gbps = 76.8
[cpu]
cores = 12
[sources]
"memory.ram_bandwidth_gbps" = "my own box: DDR5-4800 dual channel"
"""
USER_TINY_MODEL = """
display_name = "Tiny"
[arch]
family = "llama"
n_layers = 2
hidden_size = 64
n_heads = 4
ffn_size = 128
vocab_size = 256
max_ctx_tokens = 512
"""


def _break(kind: str, name: str, old: str, new: str) -> Path:
    text = builtin_text(kind, name)
    assert old in text, f"the fixture text {old!r} is gone from {name}.toml"
    return write_user_profile(kind, name, text.replace(old, new, 1))


class TestBrokenProfiles:
    """A bad file is a ProfileError naming the file and the key, never a traceback or a silent default."""

    @pytest.mark.parametrize(
        ("old", "new", "expected"),
        [
            pytest.param("n_layers = 32", "n_layers = ", "not valid TOML", id="syntax-error"),
            pytest.param("n_layers = 32\n", "", "key 'arch.n_layers': missing", id="missing-key"),
            pytest.param(
                "n_layers = 32",
                'n_layers = "abc"',
                "key 'arch.n_layers': expected an integer, got 'abc'",
                id="wrong-type",
            ),
            pytest.param(
                "n_layers = 32",
                "n_layer = 32",
                "'arch.n_layers': missing (it is required); is 'arch.n_layer' a misspelling of it?",
                id="misspelt-required-key",
            ),
            pytest.param(
                "tied_embeddings = false",
                "tied_embedings = false",
                "key 'arch.tied_embedings': unknown key; did you mean 'arch.tied_embeddings'?",
                id="misspelt-optional-key",
            ),
            pytest.param("n_layers = 32", "n_layers = 0", "at least 1, got 0", id="zero-layers"),
            pytest.param(
                "n_kv_heads = 8", "n_kv_heads = 5", "'arch.n_kv_heads': 5 does not divide", id="gqa"
            ),
            pytest.param("tied_embeddings = false", "tied_embeddings = 0", "true or false", id="bool-as-int"),
            pytest.param('name = "llama-3-8b"', 'name = "llama3"', "key 'name'", id="name-not-file-name"),
            pytest.param("config =", "conifg =", "did you mean 'config'?", id="misspelt-source"),
        ],
    )
    def test_broken_model_profile(self, old: str, new: str, expected: str) -> None:
        path = _break("models", "llama-3-8b", old, new)
        with pytest.raises(ProfileError) as caught:
            load_model_profile("llama-3-8b")
        assert caught.value.path == str(path)
        assert expected in str(caught.value)

    @pytest.mark.parametrize(
        ("name", "old", "new", "expected"),
        [
            pytest.param(
                "rtx-3060-12gb", 'platform = "nvidia"', 'platform = "amd"', "key 'platform'", id="platform"
            ),
            pytest.param(
                "rtx-3060-12gb", "ram_gib = 32", "ram_gib = -32", "a positive number", id="negative"
            ),
            pytest.param(
                "rtx-3060-12gb", "memory_mib = 12288\n", "", "'gpu.memory_mib': missing", id="no-vram"
            ),
            pytest.param(
                "rtx-3060-12gb", 'backend = "cuda"', 'backend = "metal"', "'gpu.backend'", id="backend"
            ),
            pytest.param("rtx-3060-12gb", "\n[cpu]", "\n[cpus]", "key 'cpu': missing", id="misnamed-table"),
            pytest.param(
                "m3-max-40c-48gb",
                "memory_mib = 49152",
                "memory_mib = 36864",
                "'gpu.memory_mib'",
                id="not-unified",
            ),
            pytest.param(
                "m3-max-40c-48gb",
                '"gpu.cores" =',
                '"gpu.core" =',
                "did you mean 'gpu.cores'?",
                id="bad-source",
            ),
        ],
    )
    def test_broken_hardware_profile(self, name: str, old: str, new: str, expected: str) -> None:
        path = _break("hardware", name, old, new)
        with pytest.raises(ProfileError) as caught:
            load_hardware_profile(name)
        assert caught.value.path == str(path)
        assert expected in str(caught.value)

    def test_a_file_that_is_not_utf8_is_a_profile_error(self) -> None:
        path = profiles.user_profiles_dir() / "models" / "binary.toml"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\xff\xfe\x00name")
        with pytest.raises(ProfileError, match="not valid TOML"):
            load_model_profile("binary")


class TestUnknownNames:
    @pytest.mark.parametrize(
        ("loader", "name", "suggestion"),
        [
            pytest.param(load_hardware_profile, "rtx-3060", "rtx-3060-12gb", id="hardware-missing-suffix"),
            pytest.param(load_hardware_profile, "m3-max-40c-48GB", "m3-max-40c-48gb", id="hardware-case"),
            pytest.param(load_model_profile, "llama3-8b", "llama-3-8b", id="model-missing-dash"),
            pytest.param(load_model_profile, "qwen2.5-7", "qwen2.5-7b", id="model-truncated"),
        ],
    )
    def test_unknown_name_suggests_close_ones(self, loader: object, name: str, suggestion: str) -> None:
        assert callable(loader)
        with pytest.raises(UnknownNameError) as caught:
            loader(name)
        assert suggestion in caught.value.suggestions
        assert caught.value.exit_code == 2 and "profile" in caught.value.kind


class TestFindHardwareProfile:
    @pytest.mark.parametrize(
        ("platform", "chip", "memory_bytes", "gpu_cores", "expected"),
        [
            pytest.param("apple", "Apple M3 Max", 36 * GIB, 30, "m3-max-30c-36gb", id="binned-m3-max"),
            pytest.param("apple", "Apple M4 Max", 36 * GIB, 32, "m4-max-32c-36gb", id="binned-m4-max"),
            pytest.param("apple", "Apple M4 Max", 128 * GIB, 40, "m4-max-40c-128gb", id="full-m4-max"),
            pytest.param("apple", "Apple M5 Max", 128 * GIB, 40, "m5-max-40c-128gb", id="m5-max"),
            pytest.param("apple", "Apple M3 Max", 48 * GIB, 40, "m3-max-40c-48gb", id="exact-m3-max"),
            pytest.param("apple", "Apple M3 Max", 128 * GIB, 40, "m3-max-40c-64gb", id="nearest-memory"),
            pytest.param("apple", "Apple M3 Max", 36 * GIB, None, "m3-max-30c-36gb", id="no-core-count"),
            pytest.param("apple", "Apple M3", 16 * GIB, 10, None, id="m3-is-not-m3-max"),
            pytest.param("apple", "Apple M4 Pro", 24 * GIB, 16, "m4-pro-20c-48gb", id="only-one-of-the-chip"),
            pytest.param(
                "nvidia", "NVIDIA H100 80GB HBM3", 81559 * MIB, None, "h100-sxm-80gb", id="h100-sxm"
            ),
            pytest.param("nvidia", "NVIDIA H100 PCIe", 81559 * MIB, None, "h100-pcie-80gb", id="h100-pcie"),
            pytest.param("nvidia", "NVIDIA A100-SXM4-40GB", 40 * GIB, None, "a100-sxm-80gb", id="a100-40gb"),
            pytest.param("nvidia", "NVIDIA GeForce RTX 3060", 12 * GIB, None, "rtx-3060-12gb", id="rtx-3060"),
            pytest.param("nvidia", "NVIDIA GeForce RTX 4060", 8 * GIB, None, None, id="4060-is-not-4060-ti"),
            pytest.param("nvidia", "Tesla T4", 15360 * MIB, None, "t4-16gb", id="t4"),
            pytest.param("apple", "NVIDIA GeForce RTX 3060", 12 * GIB, None, None, id="platform-must-match"),
        ],
    )
    def test_closest_profile(
        self, platform: str, chip: str, memory_bytes: int, gpu_cores: int | None, expected: str | None
    ) -> None:
        assert find_hardware_profile(platform, chip, memory_bytes, gpu_cores) == expected

    def test_a_broken_user_profile_does_not_break_matching(self) -> None:
        write_user_profile("hardware", "zz-broken", "this is not toml")
        assert find_hardware_profile("nvidia", "NVIDIA L4", 23034 * MIB) == "l4-24gb"
