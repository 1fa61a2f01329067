/* fake_nvml.c — placeholder; the fake NVML library lands with the NVML backend. */
int nvmlInit_v2(void) { return 0; }
