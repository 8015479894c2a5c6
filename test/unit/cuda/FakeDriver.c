/* A stand-in libcuda for the loader tests: every entry point Loom resolves, with cuInit
 * failing as on a machine whose driver sees no GPU (CUDA_ERROR_NO_DEVICE = 100). Built with
 * LOOM_FAKE_DRIVER_PARTIAL it exports cuInit only, like a driver too old for Loom. */
#define ENTRY(name) int name(void) { return 999; }

static const char *kNoDevice = "CUDA_ERROR_NO_DEVICE";
static const char *kNoDeviceText = "no CUDA-capable device is detected";

int cuInit(unsigned flags) { (void)flags; return 100; }

#ifndef LOOM_FAKE_DRIVER_PARTIAL
int cuGetErrorName(int result, const char **name) { *name = result == 100 ? kNoDevice : "CUDA_ERROR_UNKNOWN"; return 0; }
int cuGetErrorString(int result, const char **text) { *text = result == 100 ? kNoDeviceText : "unknown"; return 0; }
ENTRY(cuDriverGetVersion)
ENTRY(cuDeviceGetCount)
ENTRY(cuDeviceGet)
ENTRY(cuDeviceGetName)
ENTRY(cuDeviceGetAttribute)
ENTRY(cuDevicePrimaryCtxRetain)
ENTRY(cuDevicePrimaryCtxRelease_v2)
ENTRY(cuCtxSetCurrent)
ENTRY(cuModuleLoadData)
ENTRY(cuModuleUnload)
ENTRY(cuModuleGetFunction)
ENTRY(cuFuncSetAttribute)
ENTRY(cuMemAlloc_v2)
ENTRY(cuMemFree_v2)
ENTRY(cuMemGetInfo_v2)
ENTRY(cuMemcpyHtoD_v2)
ENTRY(cuMemcpyHtoDAsync_v2)
ENTRY(cuMemcpyDtoHAsync_v2)
ENTRY(cuMemsetD8Async)
ENTRY(cuStreamCreate)
ENTRY(cuStreamDestroy_v2)
ENTRY(cuStreamSynchronize)
ENTRY(cuLaunchKernel)
ENTRY(cuStreamBeginCapture_v2)
ENTRY(cuStreamEndCapture)
ENTRY(cuGraphInstantiateWithFlags)
ENTRY(cuGraphLaunch)
ENTRY(cuGraphExecDestroy)
ENTRY(cuGraphDestroy)
#endif
