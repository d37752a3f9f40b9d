/* evntrace.h — the trace levels drivers pass to their tracing macros (Event Tracing for
 * Windows). Part of swift-storport; values from the public ETW documentation. */
#ifndef STORPORT_EVNTRACE_H
#define STORPORT_EVNTRACE_H
#define TRACE_LEVEL_NONE 0
#define TRACE_LEVEL_CRITICAL 1
#define TRACE_LEVEL_FATAL 1
#define TRACE_LEVEL_ERROR 2
#define TRACE_LEVEL_WARNING 3
#define TRACE_LEVEL_INFORMATION 4
#define TRACE_LEVEL_VERBOSE 5
#endif
