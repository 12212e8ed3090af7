# sourced by every call: environment (NVLink multicast stays off), paths
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export VLLM_USE_FLASHINFER_SAMPLER=0 TRANSFORMERS_VERBOSITY=error HF_DATASETS_DISABLE_PROGRESS_BARS=1
export PYTHONPATH=$R/.device/src:/tmp/site
ts() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }
save() { tar -czf $OUT/$1.tgz -C /tmp $1 2>/dev/null; }
left() { local s=$(( $1 - ($(date +%s) - T0) )); echo $(( s > 5 ? s : 5 )); }
