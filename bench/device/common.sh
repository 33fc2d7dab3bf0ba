# Sourced by the sweeps_round*.sh device drivers, from the repository root, with R (results folder)
# and T (seconds each run may take) set: the environment, the encoder restored to fp32 in $M from
# its fp16 copy in .gpu/model, the data sets from .gpu/data.tgz in /tmp/data, MPS when it starts,
# GPU use logged every 20 s to $R/smi.csv (SMI holds its pid), and `run NAME CMD...`, which starts
# CMD in the background under `timeout $T`, logs to $R/logs/NAME.txt and collects its pid in pids.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export PYTHONPATH=$PWD/src:$PWD/.gpu/site
M=/tmp/minilm; mkdir -p $M /tmp/data $R/logs; cp -r .gpu/model/* $M/ && rm -f $M/model.fp16.safetensors
tar xzf .gpu/data.tgz -C /tmp/data || exit 3
python3 -c "
from safetensors.torch import load_file, save_file
w = load_file('.gpu/model/model.fp16.safetensors')
save_file({k: v.float() if v.is_floating_point() else v for k, v in w.items()}, '$M/model.safetensors')" || exit 3
nvidia-cuda-mps-control -d 2>/dev/null && echo "MPS on" || echo "MPS off"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > $R/smi.csv 2>&1 & SMI=$!
pids=()
S="python3 bench/sweep.py --data /tmp/data --set model=$M --set device=cuda --set precision=fp32"
run() { name=$1; shift; (timeout $T "$@" > $R/logs/$name.txt 2>&1; echo "$name exit $?" >> $R/logs/exits.txt) & pids+=($!); }
