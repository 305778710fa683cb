/* zipkin_json.c — being written (see zipkin_json.h). */
