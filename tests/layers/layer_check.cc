// Linked with one layer's whole archive and only the layers it may use: a call that runs up a
// layer leaves an undefined symbol, and this program fails to link.
int main() { return 0; }
