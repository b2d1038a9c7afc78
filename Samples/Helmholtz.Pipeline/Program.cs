// Helmholtz machines in ML.NET pipelines on MNIST: unsupervised features for a classifier, the
// log-likelihood, a saved model, and anomaly detection. The work is in PipelineApp.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
    Console.Error.WriteLine("cancelling after the current minibatch…");
};
return PipelineApp.Run(args, Console.Out, Console.Error, cancellation.Token);
