# call 1 (deps + vLLM part 1 carried): LoRA+ZeRO-3 hang diagnosed (old vs new code), LoRA+ZeRO-3 measured,
# DDP / ZeRO-2 on 1 vs 2 GPUs; vLLM part 1 stashed in /tmp/wh for call 2
R=$PWD; T0=$(date +%s); . .device/common.sh
O=/tmp/c1; mkdir -p $O /tmp/site /tmp/wh
python3 -c "import lzma,tarfile; tarfile.open(fileobj=lzma.open('.whl/deps.tar.xz'),mode='r|').extractall('/tmp/site')" || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/peft-*.whl 2>&1 | grep -v WARN
cp .whl/vllm.part1 /tmp/wh/ && ts unpacked
date -u; nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
python3 -c "
import torch, transformers, peft, trl, accelerate, deepspeed
print('torch', torch.__version__, 'gpus', torch.cuda.device_count(), *(f'{m.__name__} {m.__version__}' for m in (transformers, peft, trl, accelerate, deepspeed)))" 2>&1 | grep -v Warn
# 1. LoRA + ZeRO-3, tiny arch, 2 GPUs: old code (main) then new code (gpu18), same inputs
PYTHONPATH=$R/.device/old:/tmp/site timeout 110 python3 .device/hang_lora_zero3.py $R/.device/old $O/lora_zero3_old.log 75 29710 > $O/lora_zero3_old.json 2>&1; ts "old rc=$?"
PYTHONPATH=$R/.device/src:/tmp/site FORMALPI_HANG_DUMP_S=60 timeout 110 python3 .device/hang_lora_zero3.py $R/.device/src $O/lora_zero3_new.log 90 29720 > $O/lora_zero3_new.json 2>&1; ts "new rc=$?"
tail -1 $O/lora_zero3_old.json; tail -1 $O/lora_zero3_new.json
grep -n "File\|Thread\|Current\|train_entry rank" $O/lora_zero3_old.log | grep -v "site-packages/torch/_" | head -60
save c1
cd .device/src
# 2. LoRA + ZeRO-3, Qwen3-1.7B architecture, 2 GPUs (the run that timed out last session)
FORMALPI_HANG_DUMP_S=120 timeout 200 python3 bench/gpu_scaleout.py --arch qwen3-1.7b --mode lora --strategies zero3 --gpus 2 \
  --batch 8 --warmup 2 --steps 3 --launch-timeout 180 --work /tmp/fb --json $O/lora_zero3_17.json > $O/lora_zero3_17.log 2>&1; ts "lora17 rc=$?"
tail -4 $O/lora_zero3_17.log; save c1
# 3. DDP and ZeRO-2 on 1 and 2 GPUs (same code on 1 and 2: FORMALPI_STEP_STATS selects sft_sharded)
timeout $(left 560) python3 bench/gpu_scaleout.py --arch qwen3-1.7b --strategies zero2,ddp --gpus 1,2 --batch 8 \
  --warmup 2 --steps 3 --launch-timeout 150 --work /tmp/fb --json $O/ddp_zero2_17.json > $O/ddp_zero2_17.log 2>&1; ts "ddp/zero2 rc=$?"
tail -8 $O/ddp_zero2_17.log
cp -r /tmp/fb/ckpt/*.launch/launch.log $O/ 2>/dev/null; for d in /tmp/fb/ckpt/*.launch; do cp $d/launch.log $O/$(basename $d).log 2>/dev/null; done
save c1; ts done
