// Trains a Helmholtz machine on statically binarized MNIST with one learning rule, writes the
// learning curve (CSV) and the model, and reports the importance-sampled test log-likelihood.
// The work is in MnistApp; this file wires it to the console and to Ctrl+C.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
    Console.Error.WriteLine("cancelling after the current minibatch…");
};
return MnistApp.Run(args, Console.Out, Console.Error, cancellation.Token);
