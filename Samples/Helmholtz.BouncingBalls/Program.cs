// Trains the temporal Helmholtz machine on bouncing balls and reports the one-step prediction error
// and the per-frame log-likelihood on the test sequences, against the same machine without the LSTM.
// The work is in BouncingBallsApp; this file wires it to the console and to Ctrl+C and SIGTERM.
using var cancellation = new Helmholtz.Samples.ConsoleCancellation(Console.Error, "the current minibatch, or once a data set being made is written");
return BouncingBallsApp.Run(args, Console.Out, Console.Error, cancellation.Token);
