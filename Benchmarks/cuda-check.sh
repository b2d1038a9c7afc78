# The CUDA check of issues 15 and 17 (docs/performance.md, "ONNX Runtime on a CUDA GPU"), as it ran on
# the lent H200 machine, which has no .NET and no zstd. What it was given, built here:
#   dotnet publish Microsoft.ML.Helmholtz.Tests -c Release -r linux-x64 --self-contained false -o pub/app, from a copy of
#     the tree whose test project has <OutputType>Exe</OutputType> and <EnableMSTestRunner>true</EnableMSTestRunner>
#     (so that the tests run with the .NET runtime alone, no SDK: since the session of 2026-12-04 evening); it brings
#     the pipeline sample too; the code-coverage natives and resource folders removed;
#   dotnet publish Benchmarks/Helmholtz.Benchmarks -c Release -r linux-x64 --self-contained false -o pub/app
#   base.tar.xz: pub/app without libonnxruntime_providers_cuda.so, dotnet/ (the dotnet host, host/ and
#     shared/Microsoft.NETCore.App copied from the SDK's root) and data/ (the binarized MNIST .gz files);
#   cuda.part*: libonnxruntime_providers_cuda.so (284 MB) xz-compressed (186.5 MB at xz -6) and split into
#     parts that fit a call beside the working tree (a call carries at most 64 MiB in all: 62 MB parts first,
#     59 MB on 2026-12-04 with a 7.1 MB tree; base.tar.xz, 42 MB, went with the last part; on 2026-12-05, an H100 and an
#     8 MB tree: three parts of 58,000,000 bytes, then the fourth, 12.5 MB, with base.tar.xz, 45 MB), gathered in
#     /root/g on the warm machine, one folder of .dev/ (ignored, .gitignore) per call: `carry` names it, and the command
#     copies it there (mkdir -p /root/g && cp .dev/N/* /root/g/). The machine goes back after 30 s idle: make the calls back to back.
# The CUDA 13 libraries came from the machine's own pip packages (nvidia/cu13, nvidia/cudnn).
# Usage there: bash cuda-check.sh PARTS_DIR   (writes its logs to $OUT; T_TESTS, T_SAVED, T_PIPE, T_TEMPORAL and
# T_BENCH are each step's time limit in seconds, 0 skipping that step; T_TEMPORAL and T_BENCH are 0 unless given)
# Reassemble the payload carried over several calls, then run the CUDA checks. $1 = parts folder.
set -u
P=${1:-/root/g}; W=/root/w; mkdir -p $W; cd $W
if [ ! -d app ]; then xz -dc -T0 $P/base.tar.xz | tar xf - || { echo "base extract failed"; exit 3; }; fi
if [ ! -f app/libonnxruntime_providers_cuda.so ]; then cat $P/cuda.part* | xz -dc -T0 > app/libonnxruntime_providers_cuda.so || { echo "provider extract failed"; ls -la $P; exit 3; }; fi
ls -la app/libonnxruntime_providers_cuda.so
export DOTNET_ROOT=$W/dotnet DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
NV=$(ls -d /opt/torch/.venv/lib/python3.12/site-packages/nvidia/*/lib 2>/dev/null | tr '\n' ':'); NV2=$(python3 -c "import site,glob;print(':'.join(glob.glob(site.getsitepackages()[0]+'/nvidia/*/lib')))" 2>/dev/null)
export LD_LIBRARY_PATH=$NV$NV2:${LD_LIBRARY_PATH:-}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | head -c 600; echo
for l in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9 libcufft.so.12; do echo -n "$l: "; for d in ${LD_LIBRARY_PATH//:/ }; do [ -e $d/$l ] && echo -n "$d "; done; echo; done
nvidia-smi -L; nproc; ldd app/libonnxruntime_providers_cuda.so | grep -iE "not found|cud|cublas"
O=${OUT:-/tmp/out}; mkdir -p $O
D=$W/dotnet/dotnet
# Added in the evening session of 2026-12-04: the whole test suite, with every ONNX graph test's session on CUDA device 0
# (HELMHOLTZ_TEST_CUDA_DEVICE, Microsoft.ML.Helmholtz.Tests/Onnx/TestSessions.cs); the tests that try the provider through
# MLContext.GpuDeviceId take their CUDA branch on such a machine by themselves.
[ "${T_TESTS:-300}" -gt 0 ] && HELMHOLTZ_TEST_CUDA_DEVICE=0 HELMHOLTZ_MNIST_DIR=$W/data timeout ${T_TESTS:-300} $D app/Microsoft.ML.Helmholtz.Tests.dll 2>&1 | tee $O/tests-cuda.txt | tail -40
# Added in issue 16's session of 2026-12-04: the saved pipelines (frame and temporal) loaded with GpuDeviceId = 0 and
# FallbackToCpu = false, so that a CUDA provider that cannot start fails the load; and the temporal ONNX graph on CUDA.
[ "${T_SAVED:-150}" -gt 0 ] && HELMHOLTZ_MNIST_DIR=$W/data timeout ${T_SAVED:-150} $D app/Helmholtz.Benchmarks.dll saved-chain --gpu 0 --repeats 3 2>&1 | tee $O/saved-chain-gpu.txt
[ "${T_PIPE:-150}" -gt 0 ] && timeout ${T_PIPE:-150} $D app/Helmholtz.Pipeline.dll --task onnx --gpu 0 --epochs 2 --data $W/data --out $O/pipe 2>&1 | tee $O/pipeline-onnx-gpu.txt
[ "${T_TEMPORAL:-0}" -gt 0 ] && timeout $T_TEMPORAL $D app/Helmholtz.Benchmarks.dll temporal --rounds 3 --gpu 0 2>&1 | tee $O/temporal-gpu.txt
[ "${T_BENCH:-0}" -gt 0 ] && HELMHOLTZ_MNIST_DIR=$W/data timeout $T_BENCH $D app/Helmholtz.Benchmarks.dll onnx --gpu 0 --no-full-test --repeats 3 2>&1 | tee $O/bench-onnx-gpu.txt
rm -rf $O/pipe
