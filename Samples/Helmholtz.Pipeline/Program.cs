// Helmholtz machines in ML.NET pipelines on MNIST: unsupervised features for a classifier, the
// log-likelihood, a saved model, and anomaly detection. The work is in PipelineApp.
using var cancellation = new Helmholtz.Samples.ConsoleCancellation(Console.Error, "the current minibatch, or the batch of rows being scored");
return PipelineApp.Run(args, Console.Out, Console.Error, cancellation.Token);
