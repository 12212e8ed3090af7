R=$PWD; T0=$(date +%s); . .device/common.sh; mkdir -p /tmp/site /tmp/wh
python3 -c "import lzma,tarfile; tarfile.open(fileobj=lzma.open('.whl/deps.tar.xz'),mode='r|').extractall('/tmp/site')" || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/peft-*.whl 2>&1 | grep -v WARN
cp .whl/vllm.part1 /tmp/wh/ && ts unpacked; cd .device/src
python3 -c "
import sys, importlib.util as u
from pathlib import Path
s = u.spec_from_file_location('gpu_throughput', 'bench/gpu_throughput.py'); m = u.module_from_spec(s)
sys.modules['gpu_throughput'] = m; s.loader.exec_module(m)
print(m.build_model_dir(m.ARCHS['qwen3-1.7b'], Path('/tmp/fb'), 'cuda'))" 2>&1 | tail -1; ts built
