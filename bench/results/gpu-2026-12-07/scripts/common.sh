# sourced by every call: environment, paths, helpers (run from the repository root, which is on PYTHONPATH)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRL_EXPERIMENTAL_SILENCE=1
export VLLM_USE_FLASHINFER_SAMPLER=0 TRANSFORMERS_VERBOSITY=error HF_DATASETS_DISABLE_PROGRESS_BARS=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=$R:/tmp/site
ts() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }
left() { echo $(( $1 - ($(date +%s) - T0) )); }  # seconds left of a call budget of $1
untar() { python3 -c "import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode=\"r|xz\").extractall(\"/tmp\")"; }  # an xz tarball of site/ on stdin -> /tmp/site
# vLLM's share: the config default (0.35) of an 80 GB card whatever the card, so the peaks speak for an H100
vllm_share() { python3 -c "import torch; print(round(0.35 * 79.2 / (torch.cuda.get_device_properties(0).total_memory / 2**30), 3))"; }
