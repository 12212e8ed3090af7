# call 2 (vLLM wheel part 1 carried in .whl2): stashed for call 3 (the machine stays warm between the calls)
R=$PWD; mkdir -p /tmp/wh; cp .whl2/vllm.part1 /tmp/wh/ && echo stashed; ls -la /tmp/wh; ls /tmp/site | wc -l; ls /tmp/fb
