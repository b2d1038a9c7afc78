// Trains a Helmholtz machine on statically binarized MNIST with one learning rule, writes the
// learning curve (CSV) and the model, and reports the importance-sampled test log-likelihood.
// The work is in MnistApp; this file wires it to the console and to Ctrl+C and SIGTERM.
using var cancellation = new Helmholtz.Samples.ConsoleCancellation(Console.Error, "the current minibatch, or the images being scored");
return MnistApp.Run(args, Console.Out, Console.Error, cancellation.Token);
