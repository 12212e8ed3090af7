# sourced by every call: environment, paths, helpers (run from the repository root; the branch tree is .device/src)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRL_EXPERIMENTAL_SILENCE=1
export VLLM_USE_FLASHINFER_SAMPLER=0 TRANSFORMERS_VERBOSITY=error HF_DATASETS_DISABLE_PROGRESS_BARS=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=$R/.device/src:/tmp/site
ts() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }
unpack() { python3 -c "import sys, zipfile; [zipfile.ZipFile(w).extractall('/tmp/site') for w in sys.argv[1:]]" "$@"; }
