package cli

// ListPage is listPage, for the tests of package cli_test.
const ListPage = listPage
