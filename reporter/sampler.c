/* sampler.c — being written (see sampler.h). */
