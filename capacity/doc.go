// Package capacity turns measured load runs into a capacity estimate for
// given hardware: what a deployment would sustain in posts/s, deliveries/s,
// users per room and concurrent users, which resource runs out first, and
// how sure we can be, every figure as a Band (low, mid, high).
//
// Everything here is a pure function of its inputs: no network, no
// processes, no clock. The inputs are a Calibration (the measurements of a
// sweep on this machine plus two micro-calibrations, saved as
// calibration.json in a results folder), a hardware Profile (built in or
// YAML) and a RoomMix (what share of posts goes to rooms of which size).
//
// The method (docs/capacity.md has it in full):
//
//   - Fit server CPU per post = a + b·k over the fan-out k (FitLinear), and
//     wire bytes per post likewise.
//   - Fit the Universal Scalability Law over core counts (FitUSL).
//   - Per resource (CPU, disk sync, disk IOPS, NIC, RAM), the service demand
//     of one post on the target profile; the bottleneck is the largest
//     demand, the saturation throughput its inverse (operational laws).
//   - Latency percentiles from the Allen-Cunneen approximation for G/G/c
//     (Erlang C scaled by the measured variability) with an exponential
//     tail, plus the commit and the fan-out tail b·k to the last recipient.
//   - Validate: fit without one measured load level and predict it
//     (HoldOut); above 15% error the prediction says so.
//
// Predict does all of it; Charts and Prediction.Text render the result.
package capacity
