// Package reports records and reports what a run measured: one
// HdrHistogram per operation in microseconds (never every sample), interval
// histograms for time series, counters (SIP responses by code, timeouts,
// retransmissions, violations by rule, dropped sends), the end-of-run
// Summary with delivery accounting, thresholds that decide the verdict and
// the exit code, and the results folder: summary.json, .hgrm percentile
// files, an .hlog interval log readable by standard HdrHistogram tools,
// and the verdict. Results of shards merge exactly.
package reports
