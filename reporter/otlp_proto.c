/* otlp_proto.c — being written (see otlp_proto.h). */
