/* jaeger_thrift.c — being written (see jaeger_thrift.h). */
